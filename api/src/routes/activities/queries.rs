//! Seed 001's reads: `get`, `find-points-consumption-list` and
//! `find-points-consumption-goods-list`, with the seed's paging (`page` from 0, `count` ≤ 100,
//! `sortStr` on `id`; the answer's `page` block beside `data`).

use axum::{extract::State, Extension, Json};
use schemas::activities::{IdShop, ListBody};
use serde::Serialize;

use super::{field, find, ok, ActivityError, ActivityRow, ActivityView, Answer};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson},
    AppState,
};

/// A goods link as the seed answers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GoodsView {
    pub id: i64,
    /// The activity's id.
    pub points_consumption_id: i64,
    pub product_id: i64,
    pub product_sku_id: i64,
    pub shop_id: i64,
    pub shop_sub_id: i64,
    /// Unix seconds.
    pub created: i64,
    pub modified: i64,
}

/// The seed's `page` block.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageInfo {
    pub per_page: i64,
    pub total_count: i64,
    pub current_page: i64,
    pub total_page: i64,
}

/// A list answer: `data` and, beside it, `page`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Listed<T> {
    pub errcode: i32,
    pub errmsg: String,
    pub data: Vec<T>,
    pub page: PageInfo,
}

fn listed<T>(data: Vec<T>, total: i64, page: i64, count: i64) -> Json<Listed<T>> {
    let total_page = (total + count - 1) / count;
    Json(Listed {
        errcode: 0,
        errmsg: "ok".into(),
        data,
        page: PageInfo { per_page: count, total_count: total, current_page: page, total_page },
    })
}

fn body<T>(b: Result<ApiJson<T>, ApiError>) -> Result<T, ActivityError> {
    b.map(|ApiJson(v)| v).map_err(ActivityError)
}

/// `POST /points-consumption/get`: one activity of the shop.
#[utoipa::path(post, path = "/points-consumption/get", request_body = IdShop, tag = "activities",
    responses((status = 200, body = Answer<ActivityView>), (status = 404, description = "no such activity in the shop")))]
pub async fn get(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<IdShop>, ApiError>,
) -> Result<Json<Answer<ActivityView>>, ActivityError> {
    let (id, shop_id) = body(b)?.check().map_err(field)?;
    let mut conn = state.db.acquire().await?;
    let row = find(&mut conn, &tenant.crm_id, id, shop_id, false).await?;
    Ok(ok(row.view()))
}

/// `POST /points-consumption/find-points-consumption-list`: the shop's activities (not deleted), paged.
#[utoipa::path(post, path = "/points-consumption/find-points-consumption-list", request_body = ListBody, tag = "activities",
    responses((status = 200, body = Listed<ActivityView>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<ListBody>, ApiError>,
) -> Result<Json<Listed<ActivityView>>, ActivityError> {
    // `points_consumption_id` belongs to the goods list; the activity list ignores it.
    let p = body(b)?.paging().map_err(field)?;
    let crm = &tenant.crm_id;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from points_activity where crm_id = $1 and shop_id = $2 and removed_at is null"#,
        crm,
        p.shop_id
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query_as!(
        ActivityRow,
        r#"select id, consumption_id, shop_id, shop_sub_id, relate_product_type, name, "desc", sort, expire_type,
                  start_time, end_time, type as kind, amount, points, share_message, news, enabled, created_at, updated_at
           from points_activity where crm_id = $1 and shop_id = $2 and removed_at is null
           order by case when $3 then -id else id end
           limit $4 offset $5"#,
        crm,
        p.shop_id,
        p.descending,
        p.count,
        p.page * p.count,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(listed(rows.iter().map(ActivityRow::view).collect(), total, p.page, p.count))
}

/// `POST /points-consumption/find-points-consumption-goods-list`: the shop's goods links, of one
/// activity when `points_consumption_id` is given, paged.
#[utoipa::path(post, path = "/points-consumption/find-points-consumption-goods-list", request_body = ListBody, tag = "activities",
    responses((status = 200, body = Listed<GoodsView>)))]
pub async fn list_goods(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<ListBody>, ApiError>,
) -> Result<Json<Listed<GoodsView>>, ActivityError> {
    let b = body(b)?;
    let p = b.paging().map_err(field)?;
    let crm = &tenant.crm_id;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from points_activity_goods
           where crm_id = $1 and shop_id = $2 and ($3::bigint is null or points_consumption_id = $3)"#,
        crm,
        p.shop_id,
        b.points_consumption_id,
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query_as!(
        GoodsView,
        r#"select id, points_consumption_id, product_id, product_sku_id, shop_id, shop_sub_id,
                  extract(epoch from created_at)::bigint as "created!", extract(epoch from updated_at)::bigint as "modified!"
           from points_activity_goods
           where crm_id = $1 and shop_id = $2 and ($3::bigint is null or points_consumption_id = $3)
           order by case when $4 then -id else id end
           limit $5 offset $6"#,
        crm,
        p.shop_id,
        b.points_consumption_id,
        p.descending,
        p.count,
        p.page * p.count,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(listed(rows, total, p.page, p.count))
}
