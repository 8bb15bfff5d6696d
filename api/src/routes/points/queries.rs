//! The points queries of seed 000: an event's outcome, the history and a member's summary.

use axum::{
    extract::{Path, State},
    response::Response,
    Extension,
};
use chrono::{DateTime, Duration, Utc};
use schemas::checks::{de_lenient_int, paging};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Postgres, QueryBuilder};

use platform::{
    inbox::{self, EVENT_NO},
    status::{LedgerEventType, ReverseStatus},
};

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    ingress::EventStatus,
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

/// The alias of `event_type` that means both reversal kinds.
const REVERSE: &str = "reverse";

/// Seed 000's word for an expiry; the ledger's own word, `expire`, stays an alias.
const EXPIRED: &str = "expired";

/// The history's word for a ledger type: the ledger's own, except seed 000's [`EXPIRED`].
fn history_word(t: LedgerEventType) -> &'static str {
    match t {
        LedgerEventType::Expire => EXPIRED,
        t => t.as_str(),
    }
}

/// The words `event_type` accepts, in the order the error lists them: every ledger type in its
/// history word, with [`REVERSE`] right after the reversal kinds.
fn event_type_words() -> Vec<&'static str> {
    let mut words = Vec::new();
    for t in LedgerEventType::ALL {
        words.push(history_word(*t));
        if *t == LedgerEventType::ReverseConsume {
            words.push(REVERSE);
        }
    }
    words
}

/// The ledger types an `event_type` filter names, or `None` for a word it does not accept.
fn event_types(word: &str) -> Option<Vec<LedgerEventType>> {
    match word {
        REVERSE => Some(vec![LedgerEventType::ReverseProduce, LedgerEventType::ReverseConsume]),
        EXPIRED => Some(vec![LedgerEventType::Expire]),
        word => word.parse::<LedgerEventType>().ok().map(|t| vec![t]),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// produce | consume | transfer | transfer_return | accept | reverse_produce | reverse_consume |
    /// reverse (both reversal kinds) | settle_debt | expired (`expire` too) | freeze | unfreeze
    pub event_type: String,
    /// `YYYY-MM-DD HH:MM:SS` in the tenant's zone (or RFC 3339); on create_time.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub member_no: Option<String>,
    /// The rows of the member profile holding this mobile (seed 002's members).
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
///
/// `points` is signed: the change the row makes to the member's points (the summary's
/// `points`): positive for `produce`, `accept`, `reverse_consume` and `transfer_return`,
/// negative for `consume`, `transfer`, `reverse_produce`, `settle_debt` and `expired`. The rows
/// of a member sum to its points, except `freeze` and `unfreeze`, which move points between
/// available and frozen without changing them and show the number moved, positive.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub auto_id: i64,
    pub crm_id: String,
    pub member_no: String,
    pub event_no: String,
    pub origin_event_no: Option<String>,
    pub from_transfer_no: Option<String>,
    pub action_scene: String,
    /// produce | consume | transfer | transfer_return | accept | reverse_produce |
    /// reverse_consume | settle_debt | expired | freeze | unfreeze
    #[schema(value_type = String)]
    pub event_type: &'static str,
    /// 0 none, 1 partly, 2 fully reversed.
    pub reverse_status: i16,
    pub amount: Option<f64>,
    /// Signed: see the row's description.
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
    /// Why the row is what it is: the rules, activities and limits that produced it and the
    /// arithmetic ("order_pay rule 3: floor(120.00 / 50) × 10 = 20"); null on rows without one.
    pub explain: Option<String>,
}

/// The ledger columns a [`HistoryRow`] is read from (the history and its feed build their
/// statements at run time: filters and the order column vary).
pub const HISTORY_COLUMNS: &str = "auto_id, crm_id, member_no, event_no, origin_event_no, from_transfer_no, action_scene,
    event_type, reverse_status, amount_cents, points, expire_time, unfreeze_time, store_code, cost_center, campagin_code,
    operator, event_desc, order_items, create_time, update_time, explain";

/// A `points_ledger` row as the database types it.
#[derive(Debug, sqlx::FromRow)]
pub struct HistoryRow {
    auto_id: i64,
    crm_id: String,
    member_no: String,
    event_no: String,
    origin_event_no: Option<String>,
    from_transfer_no: Option<String>,
    action_scene: String,
    event_type: LedgerEventType,
    reverse_status: ReverseStatus,
    amount_cents: Option<i64>,
    points: i64,
    expire_time: Option<DateTime<Utc>>,
    unfreeze_time: Option<DateTime<Utc>>,
    store_code: Option<String>,
    cost_center: Option<String>,
    campagin_code: Option<String>,
    operator: Option<String>,
    event_desc: Option<String>,
    order_items: Option<Value>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    explain: Option<String>,
}

impl HistoryRow {
    pub fn into_item(self, tz: chrono_tz::Tz) -> HistoryItem {
        let local = |t: DateTime<Utc>| schemas::time::format_local(t, tz);
        HistoryItem {
            auto_id: self.auto_id,
            crm_id: self.crm_id,
            member_no: self.member_no,
            event_no: self.event_no,
            origin_event_no: self.origin_event_no,
            from_transfer_no: self.from_transfer_no,
            action_scene: self.action_scene,
            event_type: history_word(self.event_type),
            reverse_status: self.reverse_status as i16,
            amount: self.amount_cents.map(|c| c as f64 / 100.0),
            points: self.points,
            expire_time: self.expire_time.map(local),
            unfreeze_time: self.unfreeze_time.map(local),
            store_code: self.store_code,
            cost_center: self.cost_center,
            campagin_code: self.campagin_code,
            operator: self.operator,
            event_desc: self.event_desc,
            order_items: self.order_items,
            create_time: local(self.create_time),
            update_time: local(self.update_time),
            explain: self.explain,
        }
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
    let Some(types) = event_types(&q.event_type) else {
        return Err(ApiError::invalid("event_type", format!("must be one of {}", event_type_words().join(", "))));
    };
    let types: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    if let Some(mobile) = &q.mobile {
        schemas::members::check_mobile("mobile", mobile)?;
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
        // The member profile holding the mobile (none: no rows).
        if let Some(mobile) = &q.mobile {
            b.push(" and member_no = (select member_no from member where crm_id = ").push_bind(crm_id.clone());
            b.push(" and mobile = ").push_bind(mobile.clone()).push(")");
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
    let rows: Vec<HistoryRow> = select.build_query_as().fetch_all(&state.db).await?;
    let items = rows.into_iter().map(|r| r.into_item(tenant.tz)).collect();
    Ok(ok("OK", HistoryPage { total, items }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    let row = sqlx::query!(
        r#"select coalesce(b.points, 0) as "points!", coalesce(b.total_produced, 0) as "total_produced!",
                coalesce(b.total_consumed, 0) as "total_consumed!", coalesce(b.total_expired, 0) as "total_expired!",
                coalesce(b.total_reversed, 0) as "total_reversed!", coalesce(b.debt, 0) as "debt!",
                coalesce(b.escrow, 0) as "escrow!", coalesce(b.total_transferred, 0) as "total_transferred!",
                coalesce(b.total_accepted, 0) as "total_accepted!",
                coalesce(l.available, 0) as "available!", coalesce(l.frozen, 0) as "frozen!", coalesce(l.expiring, 0) as "expiring!",
                coalesce(l.expiring_7d, 0) as "expiring_7d!"
         from (select 1) one
         left join member_balance b on b.crm_id = $1 and b.member_no = $2
         left join (select sum(remaining) filter (where unfreeze_time is null or unfreeze_time <= $3)::bigint as available,
                           sum(remaining) filter (where unfreeze_time > $3)::bigint as frozen,
                           sum(remaining) filter (where (unfreeze_time is null or unfreeze_time <= $3) and expire_time <= $4)::bigint as expiring,
                           sum(remaining) filter (where (unfreeze_time is null or unfreeze_time <= $3) and expire_time <= $5)::bigint as expiring_7d
                    from points_lot where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > $3) l on true"#,
        crm_id,
        q.member_no,
        now,
        now + Duration::days(30),
        now + Duration::days(7),
    )
    .fetch_one(&state.db)
    .await?;
    Ok(ok(
        "OK",
        Summary {
            member_no: q.member_no,
            points: row.points,
            available: row.available,
            frozen: row.frozen,
            expiring_7d: row.expiring_7d,
            expiring_30d: row.expiring,
            debt: row.debt,
            total_reversed: row.total_reversed,
            escrow: row.escrow,
            total_transferred: row.total_transferred,
            total_accepted: row.total_accepted,
            total_produced: row.total_produced,
            total_consumed: row.total_consumed,
            total_expired: row.total_expired,
        },
    ))
}

/// The current outcome of an event: applied (200), refused (409/422 with the refusal's code), or
/// 404 while unknown (not yet applied, parked, or never received).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/events/{event_no}", tag = "events",
    params(("crm_id" = String, Path), ("event_no" = String, Path)), responses((status = 200, body = EventStatus, description = "applied: code 0"),
              (status = 409, body = EventStatus, description = "refused: conflicts with the current state (code 409xx)"),
              (status = 422, body = EventStatus, description = "refused: can never succeed as asked (code 422xx)"),
              (status = 404, description = "no outcome yet")))]
pub async fn get_event(
    State(state): State<AppState>,
    Path((crm_id, event_no)): Path<(String, String)>,
    Extension(tenant): Extension<Tenant>,
) -> Result<Response, ApiError> {
    let row = inbox::find(&state.db, &crm_id, EVENT_NO, &event_no).await?.ok_or_else(|| {
        ApiError::NotFound(format!("event {event_no} has no outcome yet: not applied yet, parked, or never received"))
    })?;
    Ok(crate::routes::outcomes::answer_row(&row, &tenant))
}

/// One entry of an event and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExplainedEntry {
    pub auto_id: i64,
    #[schema(value_type = String)]
    pub event_type: &'static str,
    pub action_scene: String,
    pub campagin_code: Option<String>,
    pub points: i64,
    pub explain: Option<String>,
}

/// An event's outcome and the why of each of its ledger entries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Explanation {
    pub event_no: String,
    /// applied | rejected | … (the stored outcome's status).
    pub status: String,
    /// The points the event came to.
    pub points: i64,
    /// A refusal's reason (which rules, limits or activities refused it, and why).
    pub reason: Option<String>,
    pub entries: Vec<ExplainedEntry>,
    /// The entries' explanations in one line, `; `-separated (or the refusal's reason).
    pub text: String,
}

/// `GET …/events/{event_no}/explain`: the event's outcome and, entry by entry, the rules,
/// activities and limits that produced it with their arithmetic; a refusal says why.
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/events/{event_no}/explain", tag = "events",
    params(("crm_id" = String, Path), ("event_no" = String, Path)),
    responses((status = 200, body = Explanation), (status = 404, description = "no outcome yet")))]
pub async fn explain(
    State(state): State<AppState>,
    Path((crm_id, event_no)): Path<(String, String)>,
) -> Result<axum::Json<schemas::ApiResponse<Explanation>>, ApiError> {
    let row = inbox::find(&state.db, &crm_id, EVENT_NO, &event_no).await?.ok_or_else(|| {
        ApiError::NotFound(format!("event {event_no} has no outcome yet: not applied yet, parked, or never received"))
    })?;
    let rows = sqlx::query!(
        r#"select auto_id, event_type as "event_type: LedgerEventType", action_scene, campagin_code, points, explain
           from points_ledger where crm_id = $1 and event_no = $2 order by auto_id"#,
        crm_id,
        event_no,
    )
    .fetch_all(&state.db)
    .await?;
    let entries: Vec<ExplainedEntry> = rows
        .into_iter()
        .map(|r| ExplainedEntry {
            auto_id: r.auto_id,
            event_type: history_word(r.event_type),
            action_scene: r.action_scene,
            campagin_code: r.campagin_code,
            points: r.points,
            explain: r.explain,
        })
        .collect();
    let mut text: Vec<String> = entries.iter().filter_map(|e| e.explain.clone()).collect();
    if let Some(reason) = &row.reason {
        text.push(reason.clone());
    }
    Ok(ok(
        "OK",
        Explanation {
            event_no,
            status: row.status.as_str().to_string(),
            points: row.points,
            reason: row.reason.clone(),
            entries,
            text: text.join("; "),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_accepts_every_ledger_type_in_the_seeds_words() {
        assert_eq!(
            event_type_words().join(", "),
            "produce, consume, transfer, transfer_return, accept, reverse_produce, reverse_consume, reverse, \
             settle_debt, expired, freeze, unfreeze"
        );
        assert_eq!(
            event_types("reverse"),
            Some(vec![LedgerEventType::ReverseProduce, LedgerEventType::ReverseConsume])
        );
        assert_eq!(event_types("freeze"), Some(vec![LedgerEventType::Freeze]));
        for word in ["expired", "expire"] {
            assert_eq!(event_types(word), Some(vec![LedgerEventType::Expire]), "{word}");
        }
        assert_eq!(event_types("transfer_return"), Some(vec![LedgerEventType::TransferReturn]));
        assert_eq!(event_types("settle_debt"), Some(vec![LedgerEventType::SettleDebt]));
        for word in ["expires", "Produce", ""] {
            assert_eq!(event_types(word), None, "{word}");
        }
        // Each accepted word reads back as the rows it finds say it.
        for t in LedgerEventType::ALL {
            assert_eq!(event_types(history_word(*t)), Some(vec![*t]));
        }
    }
}
