//! Seed 000's member feeds for OMS / CDP: `source/increment` (where each member came from) and
//! `info/increment` (the registration profile), with the points feeds' parameters, watermark
//! and exactness (see `routes::points::feeds`: a page never skips or repeats a row while
//! writes go on). `create_time` is the profile's creation, `update_time` its last write.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use schemas::members::format_datetime;
use serde::Serialize;
use serde_json::Value;

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson},
    routes::{
        ok,
        points::feeds::{window, FeedPage, FeedQuery},
    },
    AppState,
};

/// Where a member came from.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemberSource {
    pub membership_id: i64,
    pub member_no: String,
    pub source: Option<String>,
    pub content_name: Option<String>,
    pub campaign_id: Option<String>,
    pub create_method: Option<String>,
    pub create_channel: Option<String>,
    pub referrer: Option<String>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub create_time: String,
    #[sqlx(skip)]
    pub update_time: String,
}

/// A member's registration profile (the seed-002 built-ins and the custom values).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemberInfo {
    pub membership_id: i64,
    pub member_no: String,
    pub membership_code: Option<String>,
    pub name: Option<String>,
    pub gender: Option<i64>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub birthday: Option<String>,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub county: Option<String>,
    pub level_id: Option<i64>,
    #[schema(value_type = Object)]
    pub custom: sqlx::types::Json<Value>,
    #[serde(skip)]
    pub date_join: DateTime<Utc>,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub date_joined: String,
    #[sqlx(skip)]
    pub create_time: String,
    #[sqlx(skip)]
    pub update_time: String,
}

async fn page<T>(
    state: &AppState,
    crm_id: &str,
    q: &FeedQuery,
    columns: &str,
) -> Result<(FeedPage<()>, Vec<T>), ApiError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let w = window(state, q).await?;
    let column = if w.column == "create_time" { "created_at" } else { "updated_at" };
    let filter = format!("from member where crm_id = $1 and {column} >= $2 and {column} < $3");
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(crm_id)
        .bind(w.start)
        .bind(w.end)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query_as::<_, T>(&format!(
        "select {columns} {filter} order by {column} {d}, id {d} limit $4 offset $5",
        d = w.direction
    ))
    .bind(crm_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.size)
    .bind((w.page - 1) * w.size)
    .fetch_all(&state.db)
    .await?;
    Ok((
        FeedPage { total, page_id: w.page, page_size: w.size, watermark: w.watermark.timestamp(), items: vec![] },
        rows,
    ))
}

/// Members' sources created or updated in a window, paged.
#[utoipa::path(post, path = "/api/crm/mgr/member/{crm_id}/source/increment", request_body = FeedQuery, tag = "members",
    params(("crm_id" = String, Path)), responses((status = 200, body = FeedPage<MemberSource>)))]
pub async fn source(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(_tenant): Extension<Tenant>,
    ApiJson(q): ApiJson<FeedQuery>,
) -> Result<axum::Json<schemas::ApiResponse<FeedPage<MemberSource>>>, ApiError> {
    let (p, mut rows) = page::<MemberSource>(
        &state,
        &crm_id,
        &q,
        "id as membership_id, member_no, source, content_name, campaign_id, create_method, create_channel, referrer,
         created_at, updated_at",
    )
    .await?;
    for r in &mut rows {
        r.create_time = format_datetime(r.created_at);
        r.update_time = format_datetime(r.updated_at);
    }
    Ok(ok(
        "OK",
        FeedPage { items: rows, total: p.total, page_id: p.page_id, page_size: p.page_size, watermark: p.watermark },
    ))
}

/// Members' registration profiles created or updated in a window, paged.
#[utoipa::path(post, path = "/api/crm/mgr/member/{crm_id}/info/increment", request_body = FeedQuery, tag = "members",
    params(("crm_id" = String, Path)), responses((status = 200, body = FeedPage<MemberInfo>)))]
pub async fn info(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(_tenant): Extension<Tenant>,
    ApiJson(q): ApiJson<FeedQuery>,
) -> Result<axum::Json<schemas::ApiResponse<FeedPage<MemberInfo>>>, ApiError> {
    let (p, mut rows) = page::<MemberInfo>(
        &state,
        &crm_id,
        &q,
        "id as membership_id, member_no, membership_code, name, gender::bigint as gender, mobile, email, birthday,
         country, province, city, county, level_id, custom, date_join, created_at, updated_at",
    )
    .await?;
    for r in &mut rows {
        r.date_joined = format_datetime(r.date_join);
        r.create_time = format_datetime(r.created_at);
        r.update_time = format_datetime(r.updated_at);
    }
    Ok(ok(
        "OK",
        FeedPage { items: rows, total: p.total, page_id: p.page_id, page_size: p.page_size, watermark: p.watermark },
    ))
}
