//! Incremental feeds for OMS / CDP (seed 000): the ledger and the member summaries that changed
//! in a time window, paged.
//!
//! Why pages never skip or repeat a row while writes go on: a row's `create_time` and
//! `update_time` are its writing transaction's start time, so a transaction still running can
//! commit rows stamped in the past. Each answer therefore stops at a *watermark* — the start of
//! the oldest transaction still open in the database (or now) — below which no new row can
//! appear. Paging a window oldest first (`order_asc: 1`) by `create_time` is then exact: new rows
//! only ever land after the watermark, at the end. The watermark is in every answer; a consumer
//! pages a window until a short page, then starts the next window at the watermark it was given.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use schemas::checks::de_lenient_int;
use serde::{Deserialize, Serialize};

use super::queries::{HistoryItem, HistoryRow, HISTORY_COLUMNS};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson},
    routes::ok,
    AppState,
};

/// The earliest `timestamptz` PostgreSQL holds (4714-11-24 BC, 00:00 UTC).
const PG_EARLIEST: DateTime<Utc> = DateTime::from_timestamp(-210_866_803_200, 0).expect("in chrono's range");

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// From 1.
    #[serde(deserialize_with = "de_lenient_int")]
    #[schema(value_type = i64)]
    pub page_id: Option<i64>,
    /// 2..500, default 20.
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub page_size: Option<i64>,
    /// create_time | update_time
    pub order_by: String,
    /// 0 newest first (default), 1 oldest first (the one to page a window with).
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[schema(value_type = Option<i64>)]
    pub order_asc: Option<i64>,
    /// Unix seconds, inclusive.
    pub time_start: i64,
    /// Unix seconds, exclusive (and never past the watermark).
    pub time_end: i64,
}

/// The checked window: (page, size, column, direction, start, end). The member feeds
/// (`routes::members::feeds`) page the same way.
pub(crate) struct Window {
    pub page: i64,
    pub size: i64,
    pub column: &'static str,
    pub direction: &'static str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub watermark: DateTime<Utc>,
}

pub(crate) async fn window(state: &AppState, q: &FeedQuery) -> Result<Window, ApiError> {
    let page = q.page_id.ok_or_else(|| ApiError::invalid("page_id", "is required (from 1)"))?;
    if page < 1 {
        return Err(ApiError::invalid("page_id", "must be 1 or more"));
    }
    let size = q.page_size.unwrap_or(20);
    if !(2..=500).contains(&size) {
        return Err(ApiError::invalid("page_size", "must be between 2 and 500"));
    }
    let column = match q.order_by.as_str() {
        "create_time" => "create_time",
        "update_time" => "update_time",
        _ => return Err(ApiError::invalid("order_by", "must be create_time or update_time")),
    };
    let direction = match q.order_asc.unwrap_or(0) {
        0 => "desc",
        1 => "asc",
        _ => return Err(ApiError::invalid("order_asc", "must be 0 or 1")),
    };
    let start = DateTime::from_timestamp(q.time_start, 0)
        .ok_or_else(|| ApiError::invalid("time_start", "is not a unix time"))?;
    let end =
        DateTime::from_timestamp(q.time_end, 0).ok_or_else(|| ApiError::invalid("time_end", "is not a unix time"))?;
    if end <= start {
        return Err(ApiError::invalid("time_end", "must be after time_start"));
    }
    // PostgreSQL's timestamps begin in 4714 BC, chrono's earlier: a window reaching further
    // back means "from the beginning".
    let (start, end) = (start.max(PG_EARLIEST), end.max(PG_EARLIEST));
    let watermark = sqlx::query_scalar!(
        r#"select least(now(), coalesce((select min(xact_start) from pg_stat_activity
                                         where datname = current_database() and pid <> pg_backend_pid()
                                           and xact_start is not null), now())) as "watermark!""#,
    )
    .fetch_one(&state.db)
    .await?;
    // Whole seconds, as the API speaks them: the next window starts exactly where this one ends.
    let watermark = DateTime::from_timestamp(watermark.timestamp(), 0).unwrap_or(watermark);
    Ok(Window { page, size, column, direction, start, end: end.min(watermark), watermark })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage<T> {
    pub total: i64,
    pub page_id: i64,
    pub page_size: i64,
    /// Unix seconds: rows stamped before it are final; the answer covers [time_start, min(time_end, watermark)).
    pub watermark: i64,
    pub items: Vec<T>,
}

/// Ledger rows created or updated in a window, paged (see the module doc for how to page).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/history/increment", request_body = FeedQuery, tag = "queries",
    params(("crm_id" = String, Path)), responses((status = 200, body = FeedPage<HistoryItem>)))]
pub async fn history(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(q): ApiJson<FeedQuery>,
) -> Result<axum::Json<schemas::ApiResponse<FeedPage<HistoryItem>>>, ApiError> {
    let w = window(&state, &q).await?;
    let filter = format!("from points_ledger where crm_id = $1 and {c} >= $2 and {c} < $3", c = w.column);
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(&crm_id)
        .bind(w.start)
        .bind(w.end)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query_as::<_, HistoryRow>(&format!(
        "select {HISTORY_COLUMNS} {filter} order by {c} {d}, auto_id {d} limit $4 offset $5",
        c = w.column,
        d = w.direction
    ))
    .bind(&crm_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.size)
    .bind((w.page - 1) * w.size)
    .fetch_all(&state.db)
    .await?;
    let items = rows.into_iter().map(|r| r.into_item(tenant.tz)).collect();
    Ok(ok("OK", FeedPage { total, page_id: w.page, page_size: w.size, watermark: w.watermark.timestamp(), items }))
}

/// A member's points as the summary feed shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberPoints {
    pub crm_id: String,
    pub member_no: String,
    pub points: i64,
    pub debt: i64,
    pub escrow: i64,
    pub total_produced: i64,
    pub total_consumed: i64,
    pub total_expired: i64,
    pub total_reversed: i64,
    pub total_transferred: i64,
    pub total_accepted: i64,
    pub create_time: String,
    pub update_time: String,
}

/// A `member_balance` row as the database types it.
#[derive(Debug, sqlx::FromRow)]
struct BalanceRow {
    crm_id: String,
    member_no: String,
    points: i64,
    debt: i64,
    escrow: i64,
    total_produced: i64,
    total_consumed: i64,
    total_expired: i64,
    total_reversed: i64,
    total_transferred: i64,
    total_accepted: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Member summaries created or updated in a window, paged. A summary changes with every
/// event of its member, so by `update_time` a member reappears in the window of its latest
/// change: the feed gives each member's latest state at least once.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/summary/increment", request_body = FeedQuery, tag = "queries",
    params(("crm_id" = String, Path)), responses((status = 200, body = FeedPage<MemberPoints>)))]
pub async fn summary(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(q): ApiJson<FeedQuery>,
) -> Result<axum::Json<schemas::ApiResponse<FeedPage<MemberPoints>>>, ApiError> {
    let w = window(&state, &q).await?;
    let column = if w.column == "create_time" { "created_at" } else { "updated_at" };
    let filter = format!("from member_balance where crm_id = $1 and {column} >= $2 and {column} < $3");
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(&crm_id)
        .bind(w.start)
        .bind(w.end)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query_as::<_, BalanceRow>(&format!(
        "select crm_id, member_no, points, debt, escrow, total_produced, total_consumed, total_expired, total_reversed,
                total_transferred, total_accepted, created_at, updated_at
         {filter} order by {column} {d}, member_no {d} limit $4 offset $5",
        d = w.direction
    ))
    .bind(&crm_id)
    .bind(w.start)
    .bind(w.end)
    .bind(w.size)
    .bind((w.page - 1) * w.size)
    .fetch_all(&state.db)
    .await?;
    let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
    let items = rows
        .into_iter()
        .map(|r| MemberPoints {
            crm_id: r.crm_id,
            member_no: r.member_no,
            points: r.points,
            debt: r.debt,
            escrow: r.escrow,
            total_produced: r.total_produced,
            total_consumed: r.total_consumed,
            total_expired: r.total_expired,
            total_reversed: r.total_reversed,
            total_transferred: r.total_transferred,
            total_accepted: r.total_accepted,
            create_time: local(r.created_at),
            update_time: local(r.updated_at),
        })
        .collect();
    Ok(ok("OK", FeedPage { total, page_id: w.page, page_size: w.size, watermark: w.watermark.timestamp(), items }))
}
