//! The points queries of seed 000: an event's outcome, the history and a member's summary.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
    Extension,
};
use chrono::{DateTime, Duration, Utc};
use schemas::checks::{de_lenient_int, paging};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder, Row};

use platform::inbox::{self, EVENT_NO};

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    ingress::{first, EventStatus},
    routes::ok,
    AppState,
};

/// The seed types several filters as Object: a single value or a list of values.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The event types the ledger holds; `reverse` means both reversal kinds.
const EVENT_TYPES: &[&str] = &[
    "produce",
    "consume",
    "transfer",
    "accept",
    "reverse_produce",
    "reverse_consume",
    "reverse",
    "expire",
    "freeze",
    "unfreeze",
];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// produce | consume | transfer | accept | reverse_produce | reverse_consume | reverse | expire | freeze | unfreeze
    pub event_type: String,
    /// `YYYY-MM-DD HH:MM:SS` in the tenant's zone (or RFC 3339); on create_time.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub member_no: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub action_scene: Option<OneOrMany>,
    #[serde(default)]
    pub campagin_code: Option<OneOrMany>,
    #[serde(default)]
    pub store_code: Option<OneOrMany>,
    /// The seed's table spells it this way; both spellings work.
    #[serde(default)]
    pub stroe_code: Option<OneOrMany>,
    #[serde(default)]
    pub cost_center: Option<OneOrMany>,
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub page_id: Option<i64>,
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub page_size: Option<i64>,
    /// update_time (default) | create_time | points | auto_id
    #[serde(default)]
    pub order_by: Option<String>,
    /// 0 newest first (default), 1 oldest first.
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub order_asc: Option<i64>,
}

/// One ledger row, as seed 000 shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub auto_id: i64,
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    pub origin_event_no: Option<String>,
    pub from_transfer_no: Option<String>,
    pub action_scene: String,
    pub event_type: String,
    pub reverse_status: i16,
    pub amount: Option<f64>,
    pub points: i64,
    pub expire_time: Option<String>,
    pub unfreeze_time: Option<String>,
    pub store_code: Option<String>,
    pub cost_center: Option<String>,
    pub campagin_code: Option<String>,
    pub operator: Option<String>,
    pub event_desc: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub order_items: Option<Value>,
    pub create_time: String,
    pub update_time: String,
}

/// The ledger columns a [`HistoryItem`] is read from.
pub const HISTORY_COLUMNS: &str = "auto_id, crm_id, member_no, event_no, origin_event_no, from_transfer_no, action_scene,
    event_type, reverse_status, amount_cents, points, expire_time, unfreeze_time, store_code, cost_center, campagin_code,
    operator, event_desc, order_items, create_time, update_time";

impl HistoryItem {
    pub fn from_row(r: &sqlx::postgres::PgRow, tz: chrono_tz::Tz) -> sqlx::Result<HistoryItem> {
        let local = |t: DateTime<Utc>| schemas::time::format_local(t, tz);
        Ok(HistoryItem {
            auto_id: r.try_get("auto_id")?,
            crm_id: r.try_get("crm_id")?,
            member_no: r.try_get("member_no")?,
            event_no: r.try_get("event_no")?,
            origin_event_no: r.try_get("origin_event_no")?,
            from_transfer_no: r.try_get("from_transfer_no")?,
            action_scene: r.try_get("action_scene")?,
            event_type: r.try_get("event_type")?,
            reverse_status: r.try_get("reverse_status")?,
            amount: r.try_get::<Option<i64>, _>("amount_cents")?.map(|c| c as f64 / 100.0),
            points: r.try_get("points")?,
            expire_time: r.try_get::<Option<DateTime<Utc>>, _>("expire_time")?.map(local),
            unfreeze_time: r.try_get::<Option<DateTime<Utc>>, _>("unfreeze_time")?.map(local),
            store_code: r.try_get("store_code")?,
            cost_center: r.try_get("cost_center")?,
            campagin_code: r.try_get("campagin_code")?,
            operator: r.try_get("operator")?,
            event_desc: r.try_get("event_desc")?,
            order_items: r.try_get("order_items")?,
            create_time: local(r.try_get("create_time")?),
            update_time: local(r.try_get("update_time")?),
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub total: i64,
    pub items: Vec<HistoryItem>,
}

fn time_filter(field: &str, text: Option<&str>, tenant: &Tenant) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.filter(|t| !t.trim().is_empty())
        .map(|t| {
            schemas::time::parse_local(t, tenant.tz)
                .ok_or_else(|| ApiError::invalid(field, "must be `YYYY-MM-DD HH:MM:SS` or RFC 3339"))
        })
        .transpose()
}

/// The ledger, filtered and paged. Rows are ordered by the chosen column, then by `auto_id`,
/// so pages are stable.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/history", request_body = HistoryQuery, tag = "queries",
    params(("crm_id" = String, Path)), responses((status = 200, body = HistoryPage)))]
pub async fn history(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(q): ApiJson<HistoryQuery>,
) -> Result<axum::Json<schemas::ApiResponse<HistoryPage>>, ApiError> {
    if !EVENT_TYPES.contains(&q.event_type.as_str()) {
        return Err(ApiError::invalid("event_type", format!("must be one of {}", EVENT_TYPES.join(", "))));
    }
    if q.mobile.is_some() {
        return Err(ApiError::invalid(
            "mobile",
            "filtering by mobile needs member profiles, which this deployment does not hold yet; filter by member_no",
        ));
    }
    let (page, size) = paging(q.page_id, q.page_size, 10, 500)?;
    let order_by = q.order_by.as_deref().unwrap_or("update_time");
    if !["update_time", "create_time", "points", "auto_id"].contains(&order_by) {
        return Err(ApiError::invalid("order_by", "must be update_time, create_time, points or auto_id"));
    }
    let direction = match q.order_asc.unwrap_or(0) {
        0 => "desc",
        1 => "asc",
        _ => return Err(ApiError::invalid("order_asc", "must be 0 (newest first) or 1 (oldest first)")),
    };
    let start = time_filter("start_time", q.start_time.as_deref(), &tenant)?;
    let end = time_filter("end_time", q.end_time.as_deref(), &tenant)?;
    let types: Vec<String> = if q.event_type == "reverse" {
        vec!["reverse_produce".into(), "reverse_consume".into()]
    } else {
        vec![q.event_type.clone()]
    };
    let store = q.store_code.or(q.stroe_code);

    let filters = |b: &mut QueryBuilder<'_, Postgres>| {
        b.push(" from points_ledger where crm_id = ").push_bind(crm_id.clone());
        b.push(" and event_type = any(").push_bind(types.clone()).push(")");
        if let Some(t) = start {
            b.push(" and create_time >= ").push_bind(t);
        }
        if let Some(t) = end {
            b.push(" and create_time <= ").push_bind(t);
        }
        if let Some(m) = &q.member_no {
            b.push(" and member_no = ").push_bind(m.clone());
        }
        for (column, values) in [
            ("action_scene", &q.action_scene),
            ("campagin_code", &q.campagin_code),
            ("store_code", &store),
            ("cost_center", &q.cost_center),
        ] {
            if let Some(v) = values {
                b.push(format!(" and {column} = any(")).push_bind(v.values()).push(")");
            }
        }
    };
    let mut count = QueryBuilder::new("select count(*)");
    filters(&mut count);
    let total: i64 = count.build_query_scalar().fetch_one(&state.db).await?;

    let mut select = QueryBuilder::new(format!("select {HISTORY_COLUMNS}"));
    filters(&mut select);
    select
        .push(format!(" order by {order_by} {direction}, auto_id {direction} limit "))
        .push_bind(size)
        .push(" offset ")
        .push_bind((page - 1) * size);
    let rows = select.build().fetch_all(&state.db).await?;
    let items = rows.iter().map(|r| HistoryItem::from_row(r, tenant.tz)).collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("OK", HistoryPage { total, items }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SummaryQuery {
    pub member_no: String,
}

/// A member's points now. `points` is everything held; of it, `available` can be spent now,
/// `frozen` not before its unfreeze time.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub member_no: String,
    pub points: i64,
    pub available: i64,
    pub frozen: i64,
    /// Available points whose lot expires within 7 days.
    pub expiring_7d: i64,
    /// Available points whose lot expires within 30 days.
    pub expiring_30d: i64,
    /// Points owed after a reversed award had already been spent; later earnings settle it.
    pub debt: i64,
    /// Points given away and not yet accepted (or returned).
    pub escrow: i64,
    pub total_produced: i64,
    pub total_consumed: i64,
    pub total_expired: i64,
    pub total_reversed: i64,
    pub total_transferred: i64,
    pub total_accepted: i64,
}

/// A member's points (zeros for a member with no events yet).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/summary", tag = "queries",
    params(("crm_id" = String, Path), SummaryQuery), responses((status = 200, body = Summary)))]
pub async fn summary(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<axum::Json<schemas::ApiResponse<Summary>>, ApiError> {
    schemas::checks::check_key("member_no", &q.member_no)?;
    let now = Utc::now();
    let row = sqlx::query(
        "select coalesce(b.points, 0) as points, coalesce(b.total_produced, 0) as total_produced,
                coalesce(b.total_consumed, 0) as total_consumed, coalesce(b.total_expired, 0) as total_expired,
                coalesce(b.total_reversed, 0) as total_reversed, coalesce(b.debt, 0) as debt,
                coalesce(b.escrow, 0) as escrow, coalesce(b.total_transferred, 0) as total_transferred,
                coalesce(b.total_accepted, 0) as total_accepted,
                coalesce(l.available, 0) as available, coalesce(l.frozen, 0) as frozen, coalesce(l.expiring, 0) as expiring,
                coalesce(l.expiring_7d, 0) as expiring_7d
         from (select 1) one
         left join member_balance b on b.crm_id = $1 and b.member_no = $2
         left join (select sum(remaining) filter (where unfreeze_time is null or unfreeze_time <= $3)::bigint as available,
                           sum(remaining) filter (where unfreeze_time > $3)::bigint as frozen,
                           sum(remaining) filter (where (unfreeze_time is null or unfreeze_time <= $3) and expire_time <= $4)::bigint as expiring,
                           sum(remaining) filter (where (unfreeze_time is null or unfreeze_time <= $3) and expire_time <= $5)::bigint as expiring_7d
                    from points_lot where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3) l on true",
    )
    .bind(&crm_id)
    .bind(&q.member_no)
    .bind(now)
    .bind(now + Duration::days(30))
    .bind(now + Duration::days(7))
    .fetch_one(&state.db)
    .await?;
    Ok(ok(
        "OK",
        Summary {
            member_no: q.member_no,
            points: row.try_get("points")?,
            available: row.try_get("available")?,
            frozen: row.try_get("frozen")?,
            expiring_7d: row.try_get("expiring_7d")?,
            expiring_30d: row.try_get("expiring")?,
            debt: row.try_get("debt")?,
            total_reversed: row.try_get("total_reversed")?,
            escrow: row.try_get("escrow")?,
            total_transferred: row.try_get("total_transferred")?,
            total_accepted: row.try_get("total_accepted")?,
            total_produced: row.try_get("total_produced")?,
            total_consumed: row.try_get("total_consumed")?,
            total_expired: row.try_get("total_expired")?,
        },
    ))
}

/// The current outcome of an event: applied, rejected, or 404 while unknown (not yet applied,
/// parked, or never received).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/events/{event_no}", tag = "events",
    params(("crm_id" = String, Path), ("event_no" = String, Path)), responses((status = 200, body = EventStatus), (status = 404, description = "no outcome yet")))]
pub async fn get_event(
    State(state): State<AppState>,
    Path((crm_id, event_no)): Path<(String, String)>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let row = inbox::find(&state.db, &crm_id, EVENT_NO, &event_no).await?.ok_or_else(|| {
        ApiError::NotFound(format!("event {event_no} has no outcome yet: not applied yet, parked, or never received"))
    })?;
    let answer = EventStatus {
        event_no,
        message_id: None,
        status: row.status.clone(),
        points: Some(row.points),
        reason: row.reason.clone(),
        first: Some(first(&row, &tenant)),
        present_id: None,
    };
    Ok(ok("OK", answer).into_response())
}
