//! The points analytics of seed 000 and what every dashboard shares (`dr`, buckets). Each takes `dr` (see [`schemas::analytics::range`]) read in the
//! tenant's time zone; the figures are the aggregates of `analytics_day` (sums) and
//! `analytics_member_day` (exact distinct members).
//!
//! The points trend's series, per bucket of `tdate`:
//! - `prod_points`, `consume_points`, `expire_points`: the points earned, spent and expired
//!   (positive numbers); `total_prod`, `total_consume`, `total_expire`: the number of those
//!   events; `total_transfer`, `total_accept`: the number of transfers given and accepted;
//!   `total_active`: the number of points events of any kind;
//! - every `*_user`: the exact number of distinct members with such an event in the bucket (so
//!   `prod_points_user` equals `total_prod_user`);
//! - beyond the seed, `liability`: the points held by all members at the end of the bucket (the
//!   signed sum of every ledger row up to then).

use std::collections::HashMap;

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use chrono::{NaiveDate, Utc};
use futures_util::StreamExt;
use schemas::analytics::range::{parse_dr, DayRange, Mode};
use serde::{Deserialize, Serialize};

use crate::{
    auth::Tenant,
    error::{ApiError, ApiQuery},
    routes::ok,
    AppState,
};

/// The parameters every dashboard takes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// `today`, `yesterday`, `7d`, `30d`, `90d` (any `Nd` up to 366), `this_week`,
    /// `this_month`, `last_month`, or `YYYY-MM-DD,YYYY-MM-DD` (local days, both included).
    pub dr: String,
    /// `by_day`, `by_week` or `by_month` (trends only); by default by the range's length.
    pub mode: Option<String>,
    /// The card dashboards: only this card.
    pub card_id: Option<String>,
    /// The seed repeats the tenant in the query; when given it must be the path's.
    pub crm_id: Option<String>,
    /// `distr` (required there): `source` (where points came from) or `redu_source` (where
    /// they went); the other dashboards ignore it.
    pub types: Option<String>,
}

/// The range asked for, checked.
pub(super) struct Asked {
    pub(super) range: DayRange,
}

pub(super) fn asked(tenant: &Tenant, q: &RangeQuery) -> Result<Asked, ApiError> {
    if q.crm_id.as_deref().is_some_and(|c| c != tenant.crm_id) {
        return Err(ApiError::invalid("crm_id", "must be the crm_id of the path"));
    }
    let today = Utc::now().with_timezone(&tenant.tz).date_naive();
    let range = parse_dr(&q.dr, today)?;
    // Every dashboard checks every parameter it is given, used or not.
    Mode::parse(q.mode.as_deref(), range)?;
    card_filter(q)?;
    Ok(Asked { range })
}

pub(super) fn card_filter(q: &RangeQuery) -> Result<Option<String>, ApiError> {
    match q.card_id.as_deref() {
        None => Ok(None),
        Some(c) => {
            schemas::checks::check_key("card_id", c)?;
            Ok(Some(c.to_string()))
        }
    }
}

/// Sums per bucket and series, and distinct members per bucket and series.
#[derive(Default)]
pub(super) struct Buckets {
    pub(super) sums: HashMap<(NaiveDate, String), (i64, i64)>,
    pub(super) members: HashMap<(NaiveDate, String), i64>,
    /// Distinct members over the whole range, per series.
    pub(super) range_members: HashMap<String, i64>,
}

impl Buckets {
    pub(super) fn points(&self, b: NaiveDate, series: &str) -> i64 {
        self.sums.get(&(b, series.to_string())).map_or(0, |s| s.0)
    }
    pub(super) fn events(&self, b: NaiveDate, series: &str) -> i64 {
        self.sums.get(&(b, series.to_string())).map_or(0, |s| s.1)
    }
    pub(super) fn members(&self, b: NaiveDate, series: &str) -> i64 {
        self.members.get(&(b, series.to_string())).copied().unwrap_or(0)
    }
}

/// Reads `series` (optionally of one card: `dim`) for `range` grouped by `mode`.
pub(super) async fn buckets(
    state: &AppState,
    crm_id: &str,
    range: DayRange,
    mode: Mode,
    series: &[&str],
    card_id: Option<&str>,
) -> Result<Buckets, ApiError> {
    let series: Vec<String> = series.iter().map(|s| s.to_string()).collect();
    let mut out = Buckets::default();
    let sums = sqlx::query!(
        r#"select date_trunc($5, day::timestamp)::date as "b!", series, sum(points)::bigint as "points!", sum(events)::bigint as "events!"
             from analytics_day
            where crm_id = $1 and day between $2 and $3 and series = any($4) and ($6::text is null or dim = $6)
            group by 1, 2"#,
        crm_id,
        range.from,
        range.to,
        &series[..],
        mode.trunc_unit(),
        card_id,
    )
    .fetch_all(&state.db)
    .await?;
    for r in sums {
        out.sums.insert((r.b, r.series), (r.points, r.events));
    }
    let members = sqlx::query!(
        r#"select date_trunc($5, day::timestamp)::date as "b!", series, count(distinct member_no) as "n!"
             from analytics_member_day
            where crm_id = $1 and day between $2 and $3 and series = any($4) and ($6::text is null or dim = $6)
            group by 1, 2"#,
        crm_id,
        range.from,
        range.to,
        &series[..],
        mode.trunc_unit(),
        card_id,
    )
    .fetch_all(&state.db)
    .await?;
    for r in members {
        out.members.insert((r.b, r.series), r.n);
    }
    let whole = sqlx::query!(
        r#"select series, count(distinct member_no) as "n!" from analytics_member_day
            where crm_id = $1 and day between $2 and $3 and series = any($4) and ($5::text is null or dim = $5)
            group by 1"#,
        crm_id,
        range.from,
        range.to,
        &series[..],
        card_id,
    )
    .fetch_all(&state.db)
    .await?;
    out.range_members = whole.into_iter().map(|r| (r.series, r.n)).collect();
    Ok(out)
}

const PRODUCE: &str = "points.produce";
const CONSUME: &str = "points.consume";
const EXPIRE: &str = "points.expire";
const TRANSFER: &str = "points.transfer";
const ACCEPT: &str = "points.accept";
const ACTIVE: &str = "points.active";
const POINTS_SERIES: &[&str] = &[PRODUCE, CONSUME, EXPIRE, TRANSFER, ACCEPT, ACTIVE];

/// Seed 000's points trend (every series of its example), plus `liability`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsTrend {
    pub prod_points: Vec<i64>,
    pub prod_points_user: Vec<i64>,
    pub total_prod: Vec<i64>,
    pub total_prod_user: Vec<i64>,
    pub consume_points: Vec<i64>,
    pub consume_points_user: Vec<i64>,
    pub total_consume: Vec<i64>,
    pub total_consume_user: Vec<i64>,
    pub total_active: Vec<i64>,
    pub total_active_user: Vec<i64>,
    pub total_transfer: Vec<i64>,
    pub total_transfer_user: Vec<i64>,
    pub total_accept: Vec<i64>,
    pub total_accept_user: Vec<i64>,
    pub expire_points: Vec<i64>,
    pub expire_points_user: Vec<i64>,
    pub total_expire: Vec<i64>,
    pub total_expire_user: Vec<i64>,
    /// Points held by all members at the end of each bucket (beyond the seed).
    pub liability: Vec<i64>,
    /// Each bucket's first day (`YYYY-MM-DD`).
    pub tdate: Vec<String>,
    /// `by_day`, `by_week` or `by_month`.
    pub mode: String,
}

/// The trend of the points series (see the module's header for what each counts).
#[utoipa::path(get, path = "/api/crm/mgr/analyze/{crm_id}/points/trend", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = PointsTrend)))]
pub async fn points_trend(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<PointsTrend>>, ApiError> {
    let a = asked(&tenant, &q)?;
    let mode = Mode::parse(q.mode.as_deref(), a.range)?;
    Ok(ok("OK", trend(&state, &tenant.crm_id, a.range, mode).await?))
}

/// The points trend (the page draws it too).
pub async fn trend(state: &AppState, crm_id: &str, range: DayRange, mode: Mode) -> Result<PointsTrend, ApiError> {
    let b = buckets(state, crm_id, range, mode, POINTS_SERIES, None).await?;
    let base = sqlx::query_scalar!(
        r#"select coalesce(sum(points), 0)::bigint as "s!" from analytics_day where crm_id = $1 and series = $2 and day < $3"#,
        crm_id,
        ACTIVE,
        range.from,
    )
    .fetch_one(&state.db)
    .await?;
    let tdate = mode.buckets(range);
    let col = |f: &dyn Fn(NaiveDate) -> i64| tdate.iter().map(|&d| f(d)).collect::<Vec<i64>>();
    let mut held = base;
    let liability = col(&|d| b.points(d, ACTIVE))
        .into_iter()
        .map(|change| {
            held += change;
            held
        })
        .collect();
    Ok(PointsTrend {
        prod_points: col(&|d| b.points(d, PRODUCE)),
        prod_points_user: col(&|d| b.members(d, PRODUCE)),
        total_prod: col(&|d| b.events(d, PRODUCE)),
        total_prod_user: col(&|d| b.members(d, PRODUCE)),
        consume_points: col(&|d| -b.points(d, CONSUME)),
        consume_points_user: col(&|d| b.members(d, CONSUME)),
        total_consume: col(&|d| b.events(d, CONSUME)),
        total_consume_user: col(&|d| b.members(d, CONSUME)),
        total_active: col(&|d| b.events(d, ACTIVE)),
        total_active_user: col(&|d| b.members(d, ACTIVE)),
        total_transfer: col(&|d| b.events(d, TRANSFER)),
        total_transfer_user: col(&|d| b.members(d, TRANSFER)),
        total_accept: col(&|d| b.events(d, ACCEPT)),
        total_accept_user: col(&|d| b.members(d, ACCEPT)),
        expire_points: col(&|d| -b.points(d, EXPIRE)),
        expire_points_user: col(&|d| b.members(d, EXPIRE)),
        total_expire: col(&|d| b.events(d, EXPIRE)),
        total_expire_user: col(&|d| b.members(d, EXPIRE)),
        liability,
        tdate: tdate.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect(),
        mode: mode.as_str().to_string(),
    })
}

/// The range's headline figures, and the points held and expiring now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsTotal {
    pub crm_id: String,
    pub from_date: String,
    pub to_date: String,
    pub prod_points: i64,
    pub prod_points_user: i64,
    pub total_prod: i64,
    pub consume_points: i64,
    pub consume_points_user: i64,
    pub total_consume: i64,
    pub expire_points: i64,
    pub expire_points_user: i64,
    pub total_expire: i64,
    pub total_transfer: i64,
    pub total_transfer_user: i64,
    pub total_accept: i64,
    pub total_accept_user: i64,
    pub total_active: i64,
    pub total_active_user: i64,
    /// Points held by all members now (their balances' sum): the outstanding liability.
    pub liability: i64,
    /// Members holding points now.
    pub liability_user: i64,
    /// Points whose lot expires within 7, 30 and 90 days from now (not yet spent or expired).
    pub expiring_7d: i64,
    pub expiring_30d: i64,
    pub expiring_90d: i64,
}

/// Headline figures of the range (sums and exact distinct members over the whole range), the
/// liability now and the points expiring in the next 7, 30 and 90 days.
#[utoipa::path(get, path = "/api/crm/mgr/analyze/{crm_id}/points/total", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = PointsTotal)))]
pub async fn points_total(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<PointsTotal>>, ApiError> {
    let a = asked(&tenant, &q)?;
    Ok(ok("OK", total(&state, &tenant.crm_id, a.range).await?))
}

pub async fn total(state: &AppState, crm_id: &str, range: DayRange) -> Result<PointsTotal, ApiError> {
    // One bucket: the whole range.
    let b =
        buckets(state, crm_id, DayRange { from: range.from, to: range.to }, Mode::ByDay, POINTS_SERIES, None).await?;
    let sum = |series: &str, events: bool| {
        b.sums.iter().filter(|((_, s), _)| s == series).map(|(_, v)| if events { v.1 } else { v.0 }).sum::<i64>()
    };
    let users = |series: &str| b.range_members.get(series).copied().unwrap_or(0);
    let now = Utc::now();
    let held = sqlx::query!(
        r#"select coalesce(sum(points), 0)::bigint as "points!", count(*) filter (where points > 0) as "members!"
             from member_balance where crm_id = $1"#,
        crm_id,
    )
    .fetch_one(&state.db)
    .await?;
    let expiring = sqlx::query!(
        r#"select coalesce(sum(remaining) filter (where expire_time <= $2::timestamptz + interval '7 days'), 0)::bigint as "d7!",
                  coalesce(sum(remaining) filter (where expire_time <= $2::timestamptz + interval '30 days'), 0)::bigint as "d30!",
                  coalesce(sum(remaining) filter (where expire_time <= $2::timestamptz + interval '90 days'), 0)::bigint as "d90!"
             from points_lot where crm_id = $1 and remaining > 0 and expired_at is null and expire_time > $2"#,
        crm_id,
        now,
    )
    .fetch_one(&state.db)
    .await?;
    Ok(PointsTotal {
        crm_id: crm_id.to_string(),
        from_date: range.from.format("%Y-%m-%d").to_string(),
        to_date: range.to.format("%Y-%m-%d").to_string(),
        prod_points: sum(PRODUCE, false),
        prod_points_user: users(PRODUCE),
        total_prod: sum(PRODUCE, true),
        consume_points: -sum(CONSUME, false),
        consume_points_user: users(CONSUME),
        total_consume: sum(CONSUME, true),
        expire_points: -sum(EXPIRE, false),
        expire_points_user: users(EXPIRE),
        total_expire: sum(EXPIRE, true),
        total_transfer: sum(TRANSFER, true),
        total_transfer_user: users(TRANSFER),
        total_accept: sum(ACCEPT, true),
        total_accept_user: users(ACCEPT),
        total_active: sum(ACTIVE, true),
        total_active_user: users(ACTIVE),
        liability: held.points,
        liability_user: held.members,
        expiring_7d: expiring.d7,
        expiring_30d: expiring.d30,
        expiring_90d: expiring.d90,
    })
}

/// One scene of a distribution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DistrItem {
    /// The scene's name (a built-in scene's, or the tenant's rule name; else its code).
    pub label: String,
    /// The scene's code (`action_scene`).
    pub item: String,
    /// Points earned (`source`) or spent (`redu_source`) in the range.
    pub counts: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsDistr {
    pub result: Vec<DistrItem>,
    pub crm_id: String,
    pub from_date: String,
    pub to_date: String,
}

/// Where the range's points came from (`types=source`) or went (`types=redu_source`), by scene,
/// most points first.
#[utoipa::path(get, path = "/api/crm/mgr/analyze/{crm_id}/points/distr", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = PointsDistr)))]
pub async fn points_distr(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<PointsDistr>>, ApiError> {
    let a = asked(&tenant, &q)?;
    let source = match q.types.as_deref().map(str::trim) {
        Some("source") => true,
        Some("redu_source") => false,
        _ => return Err(ApiError::invalid("types", "must be source or redu_source")),
    };
    Ok(ok("OK", distr(&state, &tenant.crm_id, a.range, source).await?))
}

pub async fn distr(state: &AppState, crm_id: &str, range: DayRange, source: bool) -> Result<PointsDistr, ApiError> {
    let (series, sign) = if source { (PRODUCE, 1) } else { (CONSUME, -1) };
    let rows = sqlx::query!(
        r#"select d.dim as scene, (sum(d.points) * $5::bigint)::bigint as "counts!",
                  (select r.rule_name from produce_rule r where r.crm_id = $1 and r.action_scene = d.dim and r.deleted_at is null
                    order by r.rule_id limit 1) as rule_name
             from analytics_day d
            where d.crm_id = $1 and d.series = $2 and d.day between $3 and $4
            group by d.dim order by 2 desc, 1"#,
        crm_id,
        series,
        range.from,
        range.to,
        sign,
    )
    .fetch_all(&state.db)
    .await?;
    let builtin = |code: &str| {
        schemas::points::BUILTIN_PRODUCE_SCENES
            .iter()
            .chain(schemas::points::BUILTIN_CONSUME_SCENES)
            .find(|(c, _)| *c == code)
            .map(|(_, name)| name.to_string())
    };
    let result = rows
        .into_iter()
        .map(|r| DistrItem {
            label: builtin(&r.scene).or(r.rule_name).unwrap_or_else(|| r.scene.clone()),
            item: r.scene,
            counts: r.counts,
        })
        .collect();
    Ok(PointsDistr {
        result,
        crm_id: crm_id.to_string(),
        from_date: range.from.format("%Y-%m-%d").to_string(),
        to_date: range.to.format("%Y-%m-%d").to_string(),
    })
}

/// The CSV header of the export: one row per local day of the range.
pub const EXPORT_HEADER: &str = "tdate,prod_points,prod_points_user,total_prod,consume_points,consume_points_user,total_consume,expire_points,expire_points_user,total_expire,total_transfer,total_transfer_user,total_accept,total_accept_user,total_active,total_active_user\n";

/// The trend by day as CSV (`text/csv`, UTF-8), one row per local day of the range, streamed
/// from the database row by row.
#[utoipa::path(get, path = "/api/crm/mgr/analyze/{crm_id}/points/export", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery),
    responses((status = 200, content_type = "text/csv", body = String, description = "the trend by day, a header line first")))]
pub async fn points_export(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let a = asked(&tenant, &q)?;
    let crm_id = tenant.crm_id.clone();
    let range = a.range;
    let stream = async_stream(state, crm_id, range);
    let filename = format!("attachment; filename=\"points_{}_{}.csv\"", range.from, range.to);
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, filename)],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The export's lines: the header, then one line per day as the database yields it. A task
/// reads the rows and hands them over through a small bounded channel, so at most a few lines
/// are in memory whatever the range, and a slow client slows the read.
fn async_stream(
    state: AppState,
    crm_id: String,
    range: DayRange,
) -> impl futures_util::Stream<Item = Result<String, sqlx::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, sqlx::Error>>(16);
    tokio::spawn(async move {
        if tx.send(Ok(EXPORT_HEADER.to_string())).await.is_err() {
            return;
        }
        let db = state.db.clone();
        let mut rows = sqlx::query!(
            r#"with days as (select generate_series($2::date, $3::date, interval '1 day')::date as day),
                    s as (select day,
                                 coalesce(sum(points) filter (where series = 'points.produce'), 0)::bigint as prod_points,
                                 coalesce(sum(events) filter (where series = 'points.produce'), 0)::bigint as total_prod,
                                 coalesce(-sum(points) filter (where series = 'points.consume'), 0)::bigint as consume_points,
                                 coalesce(sum(events) filter (where series = 'points.consume'), 0)::bigint as total_consume,
                                 coalesce(-sum(points) filter (where series = 'points.expire'), 0)::bigint as expire_points,
                                 coalesce(sum(events) filter (where series = 'points.expire'), 0)::bigint as total_expire,
                                 coalesce(sum(events) filter (where series = 'points.transfer'), 0)::bigint as total_transfer,
                                 coalesce(sum(events) filter (where series = 'points.accept'), 0)::bigint as total_accept,
                                 coalesce(sum(events) filter (where series = 'points.active'), 0)::bigint as total_active
                            from analytics_day where crm_id = $1 and day between $2 and $3 group by day),
                    m as (select day,
                                 count(*) filter (where series = 'points.produce') as prod_user,
                                 count(*) filter (where series = 'points.consume') as consume_user,
                                 count(*) filter (where series = 'points.expire') as expire_user,
                                 count(*) filter (where series = 'points.transfer') as transfer_user,
                                 count(*) filter (where series = 'points.accept') as accept_user,
                                 count(*) filter (where series = 'points.active') as active_user
                            from analytics_member_day where crm_id = $1 and day between $2 and $3 group by day)
               select to_char(days.day, 'YYYY-MM-DD') as "tdate!",
                      coalesce(s.prod_points, 0) as "prod_points!", coalesce(m.prod_user, 0) as "prod_user!",
                      coalesce(s.total_prod, 0) as "total_prod!",
                      coalesce(s.consume_points, 0) as "consume_points!", coalesce(m.consume_user, 0) as "consume_user!",
                      coalesce(s.total_consume, 0) as "total_consume!",
                      coalesce(s.expire_points, 0) as "expire_points!", coalesce(m.expire_user, 0) as "expire_user!",
                      coalesce(s.total_expire, 0) as "total_expire!",
                      coalesce(s.total_transfer, 0) as "total_transfer!", coalesce(m.transfer_user, 0) as "transfer_user!",
                      coalesce(s.total_accept, 0) as "total_accept!", coalesce(m.accept_user, 0) as "accept_user!",
                      coalesce(s.total_active, 0) as "total_active!", coalesce(m.active_user, 0) as "active_user!"
                 from days left join s on s.day = days.day left join m on m.day = days.day
                order by days.day"#,
            crm_id,
            range.from,
            range.to,
        )
        .fetch(&db);
        while let Some(row) = rows.next().await {
            let line = row.map(|r| {
                format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    r.tdate,
                    r.prod_points,
                    r.prod_user,
                    r.total_prod,
                    r.consume_points,
                    r.consume_user,
                    r.total_consume,
                    r.expire_points,
                    r.expire_user,
                    r.total_expire,
                    r.total_transfer,
                    r.transfer_user,
                    r.total_accept,
                    r.accept_user,
                    r.total_active,
                    r.active_user
                )
            });
            let failed = line.is_err();
            if tx.send(line).await.is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|line| (line, rx)) })
}
