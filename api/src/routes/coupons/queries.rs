//! DM Hub's coupon reads (seed 002 §13.1, 13.2, 13.3, 13.5, 13.6): coupons are card
//! definitions, member coupons are the codes members hold, read in DM Hub's shapes.

use axum::{
    extract::{rejection::PathRejection, Path, State},
    Extension, Json,
};
use chrono::Utc;
use schemas::checks::{check_key, de_lenient_int};
use serde::Deserialize;

use super::{
    store::{self, HeldFilter},
    view::{Coupon, CouponPage, CouponRows, MembershipCoupon, MembershipCouponPage},
};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiQuery},
    routes::members::{
        error::MemberId,
        queries::{member_no, page_of, Paging, LOG_SIDX},
        MemberError,
    },
    AppState,
};

/// A text id in the path (`couponId`, `couponCode`), its rejection in the seed's shape.
pub(super) fn path_key(field: &str, p: Result<Path<String>, PathRejection>) -> Result<String, MemberError> {
    let Path(v) = p.map_err(|_| MemberError::invalid(field, "must be text"))?;
    check_key(field, &v)?;
    Ok(v)
}

/// `GET /loyalty/v1/coupon`: the tenant's live coupons (cards not removed), by id.
#[utoipa::path(get, path = "/loyalty/v1/coupon", tag = "coupons", params(Paging),
    responses((status = 200, body = CouponPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Result<ApiQuery<Paging>, ApiError>,
) -> Result<Json<CouponPage>, MemberError> {
    let ApiQuery(q) = q?;
    let page = page_of(&q, LOG_SIDX)?;
    let mut db = state.db.acquire().await?;
    let ids = store::coupon_page(&mut db, &tenant.crm_id, page.rows, (page.page - 1) * page.rows, page.desc).await?;
    let rows = store::coupons(&mut db, &tenant.crm_id, &ids).await?.into_iter().map(|r| r.view(tenant.tz)).collect();
    let (records, total) = if page.need_total {
        let n = store::count_coupons(&mut db, &tenant.crm_id).await?;
        (Some(n), Some((n + page.rows - 1) / page.rows))
    } else {
        (None, None)
    };
    Ok(Json(CouponPage { rows, records, total }))
}

/// `GET /loyalty/v1/coupon/{couponId}`: one coupon (a removed card too: members' codes still
/// name it).
#[utoipa::path(get, path = "/loyalty/v1/coupon/{couponId}", tag = "coupons", params(("couponId" = String, Path)),
    responses((status = 200, body = Coupon)))]
pub async fn one(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<Coupon>, MemberError> {
    let coupon_id = path_key("couponId", p)?;
    let mut db = state.db.acquire().await?;
    let id = store::coupon_by_card(&mut db, &tenant.crm_id, &coupon_id)
        .await?
        .ok_or_else(|| MemberError::NotFound(format!("coupon {coupon_id} not found")))?;
    let row = store::coupons(&mut db, &tenant.crm_id, &[id]).await?.pop();
    row.map(|r| Json(r.view(tenant.tz))).ok_or_else(|| MemberError::NotFound(format!("coupon {coupon_id} not found")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ChannelQuery {
    /// online | offline
    pub channel: String,
    /// The coupon's id on that channel (渠道码); absent: every coupon of the channel.
    #[serde(default)]
    pub coupon_id: Option<String>,
}

/// `GET /loyalty/v1/couponService/getCouponByChannel?channel=&couponId=`: the live coupons
/// with that channel (and channel code).
#[utoipa::path(get, path = "/loyalty/v1/couponService/getCouponByChannel", tag = "coupons", params(ChannelQuery),
    responses((status = 200, body = CouponRows)))]
pub async fn by_channel(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Result<ApiQuery<ChannelQuery>, ApiError>,
) -> Result<Json<CouponRows>, MemberError> {
    let ApiQuery(q) = q?;
    if q.channel != "online" && q.channel != "offline" {
        return Err(MemberError::invalid("channel", "must be online or offline"));
    }
    let coupon_id = q.coupon_id.filter(|c| !c.is_empty());
    if let Some(c) = &coupon_id {
        check_key("couponId", c)?;
    }
    let mut db = state.db.acquire().await?;
    let ids = store::coupons_by_channel(&mut db, &tenant.crm_id, &q.channel, coupon_id.as_deref()).await?;
    let rows = store::coupons(&mut db, &tenant.crm_id, &ids).await?.into_iter().map(|r| r.view(tenant.tz)).collect();
    Ok(Json(CouponRows { rows }))
}

/// `GET /loyalty/v1/membershipCoupon/{couponCode}`: a code a member holds (should two cards
/// hold the same code, the available one, else the newest).
#[utoipa::path(get, path = "/loyalty/v1/membershipCoupon/{couponCode}", tag = "coupons", params(("couponCode" = String, Path)),
    responses((status = 200, body = MembershipCoupon)))]
pub async fn member_coupon(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Json<MembershipCoupon>, MemberError> {
    let code = path_key("couponCode", p)?;
    let mut db = state.db.acquire().await?;
    let (code_id, _) = store::code_by_text(&mut db, &tenant.crm_id, &code, None)
        .await?
        .ok_or_else(|| MemberError::NotFound(format!("no member holds coupon code {code}")))?;
    held_view(&mut db, &tenant, code_id)
        .await?
        .map(Json)
        .ok_or_else(|| MemberError::NotFound(format!("no member holds coupon code {code}")))
}

/// One held code in DM Hub's shape.
pub(super) async fn held_view(
    db: &mut sqlx::PgConnection,
    tenant: &Tenant,
    code_id: i64,
) -> Result<Option<MembershipCoupon>, MemberError> {
    let now = Utc::now();
    Ok(store::held(db, &tenant.crm_id, &[code_id]).await?.pop().map(|r| r.view(tenant.tz, now)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberCouponQuery {
    /// normal (usable now) | used | notStarted; absent: every code the member holds or held.
    #[serde(default)]
    pub status: Option<String>,
    /// Rows per page, 1-500 (default 20).
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[param(value_type = Option<i64>)]
    pub rows: Option<i64>,
    /// From 1 (default 1).
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[param(value_type = Option<i64>)]
    pub page: Option<i64>,
    /// id (default: draw order).
    #[serde(default)]
    pub sidx: Option<String>,
    /// asc (default) | desc
    #[serde(default)]
    pub sord: Option<String>,
    /// true: the answer carries `records` (rows in all) and `total` (pages).
    #[serde(default, rename = "needTotal")]
    pub need_total: Option<bool>,
}

/// `GET /loyalty/v1/membership/{id}/coupon?status=normal|used`: the member's coupons, in the
/// order they were drawn.
#[utoipa::path(get, path = "/loyalty/v1/membership/{id}/coupon", tag = "coupons", params(("id" = i64, Path), MemberCouponQuery),
    responses((status = 200, body = MembershipCouponPage)))]
pub async fn member_coupons(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<MemberCouponQuery>, ApiError>,
) -> Result<Json<MembershipCouponPage>, MemberError> {
    let ApiQuery(q) = q?;
    let filter = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => HeldFilter::All,
        Some("normal") => HeldFilter::Normal,
        Some("used") => HeldFilter::Used,
        Some("notStarted") => HeldFilter::NotStarted,
        Some(_) => return Err(MemberError::invalid("status", "must be normal, used or notStarted")),
    };
    let paging = Paging { rows: q.rows, page: q.page, sidx: q.sidx, sord: q.sord, need_total: q.need_total };
    let page = page_of(&paging, LOG_SIDX)?;
    let no = member_no(&state, &tenant.crm_id, id).await?;
    let now = Utc::now();
    let mut db = state.db.acquire().await?;
    let (ids, records) = store::held_page(
        &mut db,
        &tenant.crm_id,
        &no,
        filter,
        now,
        (page.rows, (page.page - 1) * page.rows, page.desc),
        page.need_total,
    )
    .await?;
    let rows = store::held(&mut db, &tenant.crm_id, &ids).await?.into_iter().map(|r| r.view(tenant.tz, now)).collect();
    let total = records.map(|n| (n + page.rows - 1) / page.rows);
    Ok(Json(MembershipCouponPage { rows, records, total }))
}
