//! The card queries of seed 003, in the seed's shapes: a member's codes (`card_list`,
//! `card_detail`), what a claim issued (`receive_detail`) and presents (`present_list`,
//! `present_detail`).

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

/// One of a member's codes, field for field as seed 003's `card_list` items, `card_detail` and
/// `receive_detail`'s `card_info` show it. Times are `YYYY-MM-DD HH:MM:SS` in the tenant's zone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberCardDetail {
    pub auto_id: i64,
    pub crm_id: String,
    pub received_id: Option<String>,
    pub card_id: String,
    pub member_no: Option<String>,
    pub card_code: String,
    /// Valid from (有效期开始时间).
    pub start_time: Option<String>,
    /// Valid until (有效期结束时间); null for a card valid forever (`date_type` 3).
    pub end_time: Option<String>,
    /// The claim's channel.
    pub out_str: Option<String>,
    /// 1 available, 2 presenting, 3 redeemed, 4 expired, 5 obsolete.
    pub code_status: i16,
    pub received_time: Option<String>,
    /// The standing redemption's time; null once reversed.
    pub redeem_time: Option<String>,
    /// The latest present's time.
    pub present_time: Option<String>,
    /// When the code expires (or expired): the end of its validity.
    pub expired_time: Option<String>,
    /// When a reversed claim made it obsolete (code_status 5).
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
#[into_params(parameter_in = Query)]
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
    // The same columns as `receive_detail` and `card_list` read: a compile-checked statement is
    // one literal, and a filter shared by all would hide each one's index from the planner.
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
#[into_params(parameter_in = Query)]
pub struct ReceiveDetailQuery {
    pub received_id: String,
}

/// A code as `receive_detail`'s `card_code` shows it (the seed's code table row).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CodeRecord {
    pub auto_id: i64,
    pub crm_id: String,
    pub card_code: String,
    pub card_id: String,
    pub member_no: Option<String>,
    /// 1: the code was received (every code a claim issued is).
    pub card_code_status: i16,
    /// 1: the code left the stock through the pool (the seed: always 1 for a received code).
    pub card_code_preuse_status: i16,
    pub create_time: String,
    pub update_time: String,
}

/// `receive_detail`'s `card_info`: the member's code, with the tenant named `instance_id` as
/// the seed names it there (and `crm_id` as everywhere else).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedCard {
    pub instance_id: String,
    #[serde(flatten)]
    pub detail: MemberCardDetail,
}

/// One code a claim issued, as seed 003's `receive_detail` array holds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceivedCode {
    pub card_code: CodeRecord,
    pub card_info: ClaimedCard,
}

/// What a claim issued: one element per code, in issue order.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/member/receive_detail", tag = "cards", params(("crm_id" = String, Path), ReceiveDetailQuery),
    responses((status = 200, body = Vec<ReceivedCode>), (status = 404, description = "no such claim")))]
pub async fn receive_detail(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<ReceiveDetailQuery>,
) -> Result<axum::Json<schemas::ApiResponse<Vec<ReceivedCode>>>, ApiError> {
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
    let codes = rows
        .into_iter()
        .map(|r| {
            let detail = r.into_detail(&tenant);
            ReceivedCode {
                card_code: CodeRecord {
                    auto_id: detail.auto_id,
                    crm_id: detail.crm_id.clone(),
                    card_code: detail.card_code.clone(),
                    card_id: detail.card_id.clone(),
                    member_no: detail.member_no.clone(),
                    card_code_status: 1,
                    card_code_preuse_status: 1,
                    create_time: detail.create_time.clone(),
                    update_time: detail.update_time.clone(),
                },
                card_info: ClaimedCard { instance_id: detail.crm_id.clone(), detail },
            }
        })
        .collect();
    Ok(ok("获取卡券领取详情成功", codes))
}

/// A present as seed 003's `present_list` and `present_detail` show it, with the present's
/// state and its scheduled return added.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresentItem {
    pub auto_id: i64,
    /// The tenant, as the seed names it here (`crm_id` too, as everywhere else).
    pub instance_id: String,
    pub crm_id: String,
    pub from_member_no: String,
    pub to_member_no: Option<String>,
    pub card_id: String,
    pub card_code: String,
    pub present_id: String,
    pub present_extra: String,
    pub present_time: String,
    pub received_time: Option<String>,
    /// The rollback (回滚时间): when the code went back to the giver, nobody having received it
    /// in time. Null while the present is pending, and for a present received.
    pub go_back_time: Option<String>,
    /// When the code goes back to the giver if nobody receives it first (the tenant's
    /// `present_timeout_hours` after the present).
    pub go_back_due_time: String,
    /// pending | received | returned
    #[schema(value_type = String)]
    pub status: PresentStatus,
    pub create_time: String,
    pub update_time: String,
}

/// A `card_present` row as the database types it.
struct PresentRow {
    auto_id: i64,
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
    returned_at: Option<DateTime<Utc>>,
    go_back_time: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PresentRow {
    fn into_item(self, tenant: &Tenant) -> PresentItem {
        let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
        PresentItem {
            auto_id: self.auto_id,
            instance_id: self.crm_id.clone(),
            crm_id: self.crm_id,
            from_member_no: self.from_member,
            to_member_no: self.to_member,
            card_id: self.card_id,
            card_code: self.card_code,
            present_id: self.present_id,
            present_extra: self.present_extra,
            present_time: local(self.created_at),
            received_time: self.received_at.map(local),
            go_back_time: self.returned_at.map(local),
            go_back_due_time: local(self.go_back_time),
            status: self.status,
            create_time: local(self.created_at),
            update_time: local(self.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PresentListQuery {
    /// The member who gave or received the present.
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

/// Presents a member gave or received (or all), newest first.
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
        r#"select count(*) as "total!" from card_present
           where crm_id = $1 and ($2::text is null or from_member = $2 or to_member = $2)
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
        r#"select auto_id, crm_id, present_id, from_member, to_member, card_id, card_code, present_extra,
             status as "status: PresentStatus", created_at, received_at, returned_at, go_back_time, updated_at
           from card_present where crm_id = $1 and ($2::text is null or from_member = $2 or to_member = $2)
             and ($3::bool is null or (status = $4) = $3)
           order by auto_id desc limit $5 offset $6"#,
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
#[into_params(parameter_in = Query)]
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
        r#"select auto_id, crm_id, present_id, from_member, to_member, card_id, card_code, present_extra,
             status as "status: PresentStatus", created_at, received_at, returned_at, go_back_time, updated_at
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
#[into_params(parameter_in = Query)]
pub struct MemberCardsQuery {
    pub member_no: String,
    pub code_status: Option<String>,
    pub page_id: Option<String>,
    pub page_size: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberCardPage {
    pub total: i64,
    pub result: Vec<MemberCardDetail>,
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
    let rows = sqlx::query_as!(
        DetailRow,
        r#"select k.code_id, k.crm_id, k.received_id, k.card_id, k.member_no, k.card_code, k.valid_begin, k.valid_end,
             k.out_str, k.status as "status: CodeStatus", k.received_at, k.obsoleted_at, k.created_at, k.updated_at,
             (select max(r.redeemed_at) from card_redeem r where r.crm_id = k.crm_id and r.card_id = k.card_id
                 and r.card_code = k.card_code and r.rollback_status = $4) as redeem_time,
             (select max(p.created_at) from card_present p where p.crm_id = k.crm_id and p.card_id = k.card_id
                 and p.card_code = k.card_code) as present_time
           from card_code k where k.crm_id = $1 and k.member_no = $2 and ($3::smallint is null or k.status = $3)
           order by k.received_at desc, k.code_id desc limit $5 offset $6"#,
        crm_id,
        q.member_no,
        status as _,
        RollbackStatus::Standing as _,
        size,
        (page - 1) * size,
    )
    .fetch_all(&state.db)
    .await?;
    let result = rows.into_iter().map(|r| r.into_detail(&tenant)).collect();
    Ok(ok("获取用户卡券列表成功", MemberCardPage { total, result }))
}
