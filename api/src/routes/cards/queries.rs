//! The card queries of seed 003: a member's cards and codes, claims and presents.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use schemas::checks::paging;
use serde::{Deserialize, Serialize};
use sqlx::{postgres::PgRow, Row};

use super::number;
use crate::{
    auth::Tenant,
    error::{ApiError, ApiQuery},
    routes::ok,
    AppState,
};

/// One code as `card_detail` and `receive_detail` show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberCardDetail {
    pub auto_id: i64,
    pub crm_id: String,
    pub received_id: Option<String>,
    pub card_id: String,
    pub member_no: Option<String>,
    pub card_code: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub out_str: Option<String>,
    /// 1 available, 2 presenting, 3 redeemed, 4 expired, 5 obsolete.
    pub code_status: i16,
    pub received_time: Option<String>,
    pub redeem_time: Option<String>,
    pub present_time: Option<String>,
    pub expired_time: Option<String>,
    pub obsoleted_time: Option<String>,
    pub create_time: String,
    pub update_time: String,
}

const DETAIL: &str =
    "select k.code_id, k.crm_id, k.received_id, k.card_id, k.member_no, k.card_code, k.valid_begin, k.valid_end,
        k.out_str, k.status, k.received_at, k.obsoleted_at, k.created_at, k.updated_at,
        (select max(r.redeemed_at) from card_redeem r where r.crm_id = k.crm_id and r.card_id = k.card_id
            and r.card_code = k.card_code and r.rollback_status = 0) as redeem_time,
        (select max(p.created_at) from card_present p where p.crm_id = k.crm_id and p.card_id = k.card_id
            and p.card_code = k.card_code) as present_time
    from card_code k";

fn detail_from_row(r: &PgRow, tenant: &Tenant) -> sqlx::Result<MemberCardDetail> {
    let local = |t: Option<DateTime<Utc>>| t.map(|t| schemas::time::format_local(t, tenant.tz));
    Ok(MemberCardDetail {
        auto_id: r.try_get("code_id")?,
        crm_id: r.try_get("crm_id")?,
        received_id: r.try_get("received_id")?,
        card_id: r.try_get("card_id")?,
        member_no: r.try_get("member_no")?,
        card_code: r.try_get("card_code")?,
        start_time: local(r.try_get("valid_begin")?),
        end_time: local(r.try_get("valid_end")?),
        out_str: r.try_get("out_str")?,
        code_status: r.try_get("status")?,
        received_time: local(r.try_get("received_at")?),
        redeem_time: local(r.try_get("redeem_time")?),
        present_time: local(r.try_get("present_time")?),
        expired_time: local(r.try_get("valid_end")?),
        obsoleted_time: local(r.try_get("obsoleted_at")?),
        create_time: schemas::time::format_local(r.try_get("created_at")?, tenant.tz),
        update_time: schemas::time::format_local(r.try_get("updated_at")?, tenant.tz),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CardDetailQuery {
    pub member_no: String,
    pub card_id: String,
    pub card_code: String,
    pub received_id: Option<String>,
}

/// One of a member's codes.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/card_detail", tag = "cards", params(("crm_id" = String, Path), CardDetailQuery),
    responses((status = 200, body = MemberCardDetail), (status = 404, description = "not the member's code")))]
pub async fn card_detail(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<CardDetailQuery>,
) -> Result<axum::Json<schemas::ApiResponse<MemberCardDetail>>, ApiError> {
    let row = sqlx::query(&format!(
        "{DETAIL} where k.crm_id = $1 and k.card_id = $2 and k.card_code = $3 and k.member_no = $4
           and ($5::text is null or k.received_id = $5)"
    ))
    .bind(&crm_id)
    .bind(&q.card_id)
    .bind(&q.card_code)
    .bind(&q.member_no)
    .bind(&q.received_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!("member {} holds no code {} of card {}", q.member_no, q.card_code, q.card_id))
    })?;
    Ok(ok("获取卡券详情成功", detail_from_row(&row, &tenant)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReceiveDetailQuery {
    pub received_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiveDetail {
    pub received_id: String,
    /// Every code the claim issued (the seed shows one; a claim can issue several).
    pub items: Vec<MemberCardDetail>,
}

/// What a claim issued.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/receive_detail", tag = "cards", params(("crm_id" = String, Path), ReceiveDetailQuery),
    responses((status = 200, body = ReceiveDetail), (status = 404, description = "no such claim")))]
pub async fn receive_detail(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<ReceiveDetailQuery>,
) -> Result<axum::Json<schemas::ApiResponse<ReceiveDetail>>, ApiError> {
    let rows = sqlx::query(&format!("{DETAIL} where k.crm_id = $1 and k.received_id = $2 order by k.code_id"))
        .bind(&crm_id)
        .bind(&q.received_id)
        .fetch_all(&state.db)
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!("claim {} issued no code", q.received_id)));
    }
    let items = rows.iter().map(|r| detail_from_row(r, &tenant)).collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("获取卡券领取详情成功", ReceiveDetail { received_id: q.received_id, items }))
}

/// A present as `present_list` and `present_detail` show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresentItem {
    pub crm_id: String,
    pub present_id: String,
    pub from_member_no: String,
    pub to_member_no: Option<String>,
    pub card_id: String,
    pub card_code: String,
    pub present_extra: String,
    /// pending | received | returned
    pub status: String,
    pub present_time: String,
    pub received_time: Option<String>,
    /// When it goes (or went) back to the giver if nobody receives it.
    pub go_back_time: String,
    pub create_time: String,
    pub update_time: String,
}

const PRESENT: &str = "select crm_id, present_id, from_member, to_member, card_id, card_code, present_extra, status,
    created_at, received_at, go_back_time, updated_at from card_present";

fn present_from_row(r: &PgRow, tenant: &Tenant) -> sqlx::Result<PresentItem> {
    let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
    Ok(PresentItem {
        crm_id: r.try_get("crm_id")?,
        present_id: r.try_get("present_id")?,
        from_member_no: r.try_get("from_member")?,
        to_member_no: r.try_get("to_member")?,
        card_id: r.try_get("card_id")?,
        card_code: r.try_get("card_code")?,
        present_extra: r.try_get("present_extra")?,
        status: r.try_get("status")?,
        present_time: local(r.try_get("created_at")?),
        received_time: r.try_get::<Option<DateTime<Utc>>, _>("received_at")?.map(local),
        go_back_time: local(r.try_get("go_back_time")?),
        create_time: local(r.try_get("created_at")?),
        update_time: local(r.try_get("updated_at")?),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PresentListQuery {
    pub member_no: Option<String>,
    /// 0 not received yet, 1 received.
    pub received: Option<String>,
    pub page_id: Option<String>,
    pub page_size: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresentPage {
    pub total: i64,
    pub data: Vec<PresentItem>,
}

/// Presents given by a member (or all), newest first.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/present_list", tag = "cards", params(("crm_id" = String, Path), PresentListQuery),
    responses((status = 200, body = PresentPage)))]
pub async fn present_list(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<PresentListQuery>,
) -> Result<axum::Json<schemas::ApiResponse<PresentPage>>, ApiError> {
    let (page, size) =
        paging(number("page_id", q.page_id.as_deref())?, number("page_size", q.page_size.as_deref())?, 20, 100)?;
    let received = match number("received", q.received.as_deref())? {
        None => None,
        Some(0) => Some(false),
        Some(1) => Some(true),
        Some(_) => return Err(ApiError::invalid("received", "must be 0 or 1")),
    };
    let filter = "where crm_id = $1 and ($2::text is null or from_member = $2)
                  and ($3::bool is null or (status = 'received') = $3)";
    let total: i64 = sqlx::query_scalar(&format!("select count(*) from card_present {filter}"))
        .bind(&crm_id)
        .bind(&q.member_no)
        .bind(received)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query(&format!("{PRESENT} {filter} order by created_at desc, present_id limit $4 offset $5"))
        .bind(&crm_id)
        .bind(&q.member_no)
        .bind(received)
        .bind(size)
        .bind((page - 1) * size)
        .fetch_all(&state.db)
        .await?;
    let data = rows.iter().map(|r| present_from_row(r, &tenant)).collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("获取用户转增记录成功", PresentPage { total, data }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PresentDetailQuery {
    pub present_id: String,
}

/// One present.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/present_detail", tag = "cards", params(("crm_id" = String, Path), PresentDetailQuery),
    responses((status = 200, body = PresentItem), (status = 404, description = "no such present")))]
pub async fn present_detail(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<PresentDetailQuery>,
) -> Result<axum::Json<schemas::ApiResponse<PresentItem>>, ApiError> {
    let row = sqlx::query(&format!("{PRESENT} where crm_id = $1 and present_id = $2"))
        .bind(&crm_id)
        .bind(&q.present_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no present {}", q.present_id)))?;
    Ok(ok("获取用户转增记录成功", present_from_row(&row, &tenant)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct MemberCardsQuery {
    pub member_no: String,
    pub code_status: Option<String>,
    pub page_id: Option<String>,
    pub page_size: Option<String>,
}

/// One code a member holds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberCard {
    pub card_id: String,
    pub card_code: String,
    pub code_status: i16,
    pub received_id: Option<String>,
    pub receive_time: Option<String>,
    pub valid_begin: Option<i64>,
    pub valid_end: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberCardPage {
    pub total: i64,
    pub results: Vec<MemberCard>,
}

/// A member's codes, newest first, optionally by status (1 available, 2 presenting,
/// 3 redeemed, 4 expired, 5 obsolete).
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/card_list", tag = "cards", params(("crm_id" = String, Path), MemberCardsQuery),
    responses((status = 200, body = MemberCardPage)))]
pub async fn member_cards(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<MemberCardsQuery>,
) -> Result<axum::Json<schemas::ApiResponse<MemberCardPage>>, ApiError> {
    schemas::checks::check_key("member_no", &q.member_no)?;
    let (page, size) =
        paging(number("page_id", q.page_id.as_deref())?, number("page_size", q.page_size.as_deref())?, 20, 100)?;
    let status = number("code_status", q.code_status.as_deref())?;
    if status.is_some_and(|s| !(1..=5).contains(&s)) {
        return Err(ApiError::invalid("code_status", "must be 1 to 5"));
    }
    let filter = "from card_code where crm_id = $1 and member_no = $2 and ($3::smallint is null or status = $3)";
    let status = status.map(|s| s as i16);
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(&crm_id)
        .bind(&q.member_no)
        .bind(status)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query(&format!(
        "select card_id, card_code, status, received_id, received_at, valid_begin, valid_end {filter}
         order by received_at desc, code_id desc limit $4 offset $5"
    ))
    .bind(&crm_id)
    .bind(&q.member_no)
    .bind(status)
    .bind(size)
    .bind((page - 1) * size)
    .fetch_all(&state.db)
    .await?;
    let results = rows
        .iter()
        .map(|r| {
            Ok(MemberCard {
                card_id: r.try_get("card_id")?,
                card_code: r.try_get("card_code")?,
                code_status: r.try_get("status")?,
                received_id: r.try_get("received_id")?,
                receive_time: r
                    .try_get::<Option<DateTime<Utc>>, _>("received_at")?
                    .map(|t| schemas::time::format_local(t, tenant.tz)),
                valid_begin: r.try_get::<Option<DateTime<Utc>>, _>("valid_begin")?.map(|t| t.timestamp()),
                valid_end: r.try_get::<Option<DateTime<Utc>>, _>("valid_end")?.map(|t| t.timestamp()),
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("OK", MemberCardPage { total, results }))
}
