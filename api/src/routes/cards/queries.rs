//! The card queries of seed 003: a member's cards and codes, claims and presents.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use platform::status::{CodeStatus, PresentStatus, RollbackStatus};
use schemas::checks::paging;
use serde::{Deserialize, Serialize};

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

/// A code with its last redemption and present, as the database types them.
struct DetailRow {
    code_id: i64,
    crm_id: String,
    received_id: Option<String>,
    card_id: String,
    member_no: Option<String>,
    card_code: String,
    valid_begin: Option<DateTime<Utc>>,
    valid_end: Option<DateTime<Utc>>,
    out_str: Option<String>,
    status: CodeStatus,
    received_at: Option<DateTime<Utc>>,
    obsoleted_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    redeem_time: Option<DateTime<Utc>>,
    present_time: Option<DateTime<Utc>>,
}

impl DetailRow {
    fn into_detail(self, tenant: &Tenant) -> MemberCardDetail {
        let local = |t: Option<DateTime<Utc>>| t.map(|t| schemas::time::format_local(t, tenant.tz));
        MemberCardDetail {
            auto_id: self.code_id,
            crm_id: self.crm_id,
            received_id: self.received_id,
            card_id: self.card_id,
            member_no: self.member_no,
            card_code: self.card_code,
            start_time: local(self.valid_begin),
            end_time: local(self.valid_end),
            out_str: self.out_str,
            code_status: self.status.code(),
            received_time: local(self.received_at),
            redeem_time: local(self.redeem_time),
            present_time: local(self.present_time),
            expired_time: local(self.valid_end),
            obsoleted_time: local(self.obsoleted_at),
            create_time: schemas::time::format_local(self.created_at, tenant.tz),
            update_time: schemas::time::format_local(self.updated_at, tenant.tz),
        }
    }
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
    // The same columns as `receive_detail` reads: a compile-checked statement is one literal,
    // and a filter shared by both would hide each one's index from the planner.
    let row = sqlx::query_as!(
        DetailRow,
        r#"select k.code_id, k.crm_id, k.received_id, k.card_id, k.member_no, k.card_code, k.valid_begin, k.valid_end,
             k.out_str, k.status as "status: CodeStatus", k.received_at, k.obsoleted_at, k.created_at, k.updated_at,
             (select max(r.redeemed_at) from card_redeem r where r.crm_id = k.crm_id and r.card_id = k.card_id
                 and r.card_code = k.card_code and r.rollback_status = $6) as redeem_time,
             (select max(p.created_at) from card_present p where p.crm_id = k.crm_id and p.card_id = k.card_id
                 and p.card_code = k.card_code) as present_time
           from card_code k
           where k.crm_id = $1 and k.card_id = $2 and k.card_code = $3 and k.member_no = $4
             and ($5::text is null or k.received_id = $5)"#,
        crm_id,
        q.card_id,
        q.card_code,
        q.member_no,
        q.received_id,
        RollbackStatus::Standing as _,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        ApiError::NotFound(format!("member {} holds no code {} of card {}", q.member_no, q.card_code, q.card_id))
    })?;
    Ok(ok("获取卡券详情成功", row.into_detail(&tenant)))
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
    let rows = sqlx::query_as!(
        DetailRow,
        r#"select k.code_id, k.crm_id, k.received_id, k.card_id, k.member_no, k.card_code, k.valid_begin, k.valid_end,
             k.out_str, k.status as "status: CodeStatus", k.received_at, k.obsoleted_at, k.created_at, k.updated_at,
             (select max(r.redeemed_at) from card_redeem r where r.crm_id = k.crm_id and r.card_id = k.card_id
                 and r.card_code = k.card_code and r.rollback_status = $3) as redeem_time,
             (select max(p.created_at) from card_present p where p.crm_id = k.crm_id and p.card_id = k.card_id
                 and p.card_code = k.card_code) as present_time
           from card_code k where k.crm_id = $1 and k.received_id = $2 order by k.code_id"#,
        crm_id,
        q.received_id,
        RollbackStatus::Standing as _,
    )
    .fetch_all(&state.db)
    .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound(format!("claim {} issued no code", q.received_id)));
    }
    let items = rows.into_iter().map(|r| r.into_detail(&tenant)).collect();
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
    #[schema(value_type = String)]
    pub status: PresentStatus,
    pub present_time: String,
    pub received_time: Option<String>,
    /// When it goes (or went) back to the giver if nobody receives it.
    pub go_back_time: String,
    pub create_time: String,
    pub update_time: String,
}

/// A `card_present` row as the database types it.
struct PresentRow {
    crm_id: String,
    present_id: String,
    from_member: String,
    to_member: Option<String>,
    card_id: String,
    card_code: String,
    present_extra: String,
    status: PresentStatus,
    created_at: DateTime<Utc>,
    received_at: Option<DateTime<Utc>>,
    go_back_time: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PresentRow {
    fn into_item(self, tenant: &Tenant) -> PresentItem {
        let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
        PresentItem {
            crm_id: self.crm_id,
            present_id: self.present_id,
            from_member_no: self.from_member,
            to_member_no: self.to_member,
            card_id: self.card_id,
            card_code: self.card_code,
            present_extra: self.present_extra,
            status: self.status,
            present_time: local(self.created_at),
            received_time: self.received_at.map(local),
            go_back_time: local(self.go_back_time),
            create_time: local(self.created_at),
            update_time: local(self.updated_at),
        }
    }
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
    let total = sqlx::query_scalar!(
        r#"select count(*) as "total!" from card_present where crm_id = $1 and ($2::text is null or from_member = $2)
             and ($3::bool is null or (status = $4) = $3)"#,
        crm_id,
        q.member_no,
        received,
        PresentStatus::Received as _,
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query_as!(
        PresentRow,
        r#"select crm_id, present_id, from_member, to_member, card_id, card_code, present_extra,
             status as "status: PresentStatus", created_at, received_at, go_back_time, updated_at
           from card_present where crm_id = $1 and ($2::text is null or from_member = $2)
             and ($3::bool is null or (status = $4) = $3)
           order by created_at desc, present_id limit $5 offset $6"#,
        crm_id,
        q.member_no,
        received,
        PresentStatus::Received as _,
        size,
        (page - 1) * size,
    )
    .fetch_all(&state.db)
    .await?;
    let data = rows.into_iter().map(|r| r.into_item(&tenant)).collect();
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
    let row = sqlx::query_as!(
        PresentRow,
        r#"select crm_id, present_id, from_member, to_member, card_id, card_code, present_extra,
             status as "status: PresentStatus", created_at, received_at, go_back_time, updated_at
           from card_present where crm_id = $1 and present_id = $2"#,
        crm_id,
        q.present_id,
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no present {}", q.present_id)))?;
    Ok(ok("获取用户转增记录成功", row.into_item(&tenant)))
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
    let status = match number("code_status", q.code_status.as_deref())? {
        None => None,
        Some(n) => Some(
            // A member's code is never in stock.
            CodeStatus::from_code(n)
                .filter(|s| *s != CodeStatus::InStock)
                .ok_or_else(|| ApiError::invalid("code_status", "must be 1 to 5"))?,
        ),
    };
    let total = sqlx::query_scalar!(
        r#"select count(*) as "total!" from card_code
           where crm_id = $1 and member_no = $2 and ($3::smallint is null or status = $3)"#,
        crm_id,
        q.member_no,
        status as _,
    )
    .fetch_one(&state.db)
    .await?;
    let rows = sqlx::query!(
        r#"select card_id, card_code, status as "status: CodeStatus", received_id, received_at, valid_begin, valid_end
           from card_code where crm_id = $1 and member_no = $2 and ($3::smallint is null or status = $3)
           order by received_at desc, code_id desc limit $4 offset $5"#,
        crm_id,
        q.member_no,
        status as _,
        size,
        (page - 1) * size,
    )
    .fetch_all(&state.db)
    .await?;
    let results = rows
        .into_iter()
        .map(|r| MemberCard {
            card_id: r.card_id,
            card_code: r.card_code,
            code_status: r.status.code(),
            received_id: r.received_id,
            receive_time: r.received_at.map(|t| schemas::time::format_local(t, tenant.tz)),
            valid_begin: r.valid_begin.map(|t| t.timestamp()),
            valid_end: r.valid_end.map(|t| t.timestamp()),
        })
        .collect();
    Ok(ok("OK", MemberCardPage { total, results }))
}
