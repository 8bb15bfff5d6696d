//! Seed 003's card dashboards (`card_trend`, `card_channel`, `card_top`), over the same `dr`
//! and buckets as the points analytics ([`super::queries`]), with an optional `card_id`.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::NaiveDate;
use schemas::analytics::range::{DayRange, Mode};
use serde::Serialize;

use super::queries::{asked, buckets, card_filter, RangeQuery};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiQuery},
    routes::ok,
    AppState,
};

const RECEIVE: &str = "cards.receive";
const REDEEM: &str = "cards.redeem";
const PRESENT: &str = "cards.present";

/// Seed 003's card trend: codes claimed, redeemed and presented (gross: reversals are not
/// taken back) and the exact distinct members, over the range and per bucket of `tdate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardTrend {
    pub receive_num: i64,
    pub receive_member_num: i64,
    pub receive_num_list: Vec<i64>,
    pub receive_member_num_list: Vec<i64>,
    pub redeem_num: i64,
    pub redeem_member_num: i64,
    pub redeem_num_list: Vec<i64>,
    pub redeem_member_num_list: Vec<i64>,
    pub present_num: i64,
    pub present_member_num: i64,
    pub present_num_list: Vec<i64>,
    pub present_member_num_list: Vec<i64>,
    pub tdate: Vec<String>,
    pub mode: String,
}

#[utoipa::path(get, path = "/api/crm/dashbord/{crm_id}/card_trend", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = CardTrend)))]
pub async fn card_trend(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<CardTrend>>, ApiError> {
    let a = asked(&tenant, &q)?;
    let mode = Mode::parse(q.mode.as_deref(), a.range)?;
    let card = card_filter(&q)?;
    Ok(ok("ok", cards_trend(&state, &tenant.crm_id, a.range, mode, card.as_deref()).await?))
}

pub async fn cards_trend(
    state: &AppState,
    crm_id: &str,
    range: DayRange,
    mode: Mode,
    card_id: Option<&str>,
) -> Result<CardTrend, ApiError> {
    let b = buckets(state, crm_id, range, mode, &[RECEIVE, REDEEM, PRESENT], card_id).await?;
    let tdate = mode.buckets(range);
    let list = |f: &dyn Fn(NaiveDate) -> i64| tdate.iter().map(|&d| f(d)).collect::<Vec<i64>>();
    let total = |series: &str| b.sums.iter().filter(|((_, s), _)| s == series).map(|(_, v)| v.1).sum::<i64>();
    let users = |series: &str| b.range_members.get(series).copied().unwrap_or(0);
    Ok(CardTrend {
        receive_num: total(RECEIVE),
        receive_member_num: users(RECEIVE),
        receive_num_list: list(&|d| b.events(d, RECEIVE)),
        receive_member_num_list: list(&|d| b.members(d, RECEIVE)),
        redeem_num: total(REDEEM),
        redeem_member_num: users(REDEEM),
        redeem_num_list: list(&|d| b.events(d, REDEEM)),
        redeem_member_num_list: list(&|d| b.members(d, REDEEM)),
        present_num: total(PRESENT),
        present_member_num: users(PRESENT),
        present_num_list: list(&|d| b.events(d, PRESENT)),
        present_member_num_list: list(&|d| b.members(d, PRESENT)),
        tdate: tdate.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect(),
        mode: mode.as_str().to_string(),
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiveChannel {
    /// The claims' `out_str`.
    pub channel_name: String,
    pub receive_num: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedeemChannel {
    /// The redemptions' `redeem_channel`.
    pub channel_name: String,
    pub redeem_num: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardChannel {
    pub receive_channel_list: Vec<ReceiveChannel>,
    pub redeem_channel_list: Vec<RedeemChannel>,
}

/// Codes claimed per claim channel (`out_str`) and redeemed per `redeem_channel`, most first.
#[utoipa::path(get, path = "/api/crm/dashbord/{crm_id}/card_channel", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = CardChannel)))]
pub async fn card_channel(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<CardChannel>>, ApiError> {
    let a = asked(&tenant, &q)?;
    let card = card_filter(&q)?;
    let rows = sqlx::query!(
        r#"select series, dim2 as channel, sum(events)::bigint as "n!" from analytics_day
            where crm_id = $1 and series = any($2) and day between $3 and $4 and ($5::text is null or dim = $5)
            group by 1, 2 order by 3 desc, 2"#,
        tenant.crm_id,
        &[RECEIVE.to_string(), REDEEM.to_string()][..],
        a.range.from,
        a.range.to,
        card.as_deref(),
    )
    .fetch_all(&state.db)
    .await?;
    let mut out = CardChannel { receive_channel_list: Vec::new(), redeem_channel_list: Vec::new() };
    for r in rows {
        if r.series == RECEIVE {
            out.receive_channel_list.push(ReceiveChannel { channel_name: r.channel, receive_num: r.n });
        } else {
            out.redeem_channel_list.push(RedeemChannel { channel_name: r.channel, redeem_num: r.n });
        }
    }
    Ok(ok("ok", out))
}

/// One card of a top list. `receive_num` is the list's count (claims in `receive_top`,
/// redemptions in `redeem_top`, as the seed names both); the rest is beyond the seed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TopCard {
    pub receive_num: i64,
    pub card_id: String,
    pub title: String,
    /// Codes claimed in the range.
    pub received: i64,
    /// Codes redeemed in the range.
    pub redeemed: i64,
    /// `redeemed / received` (0 when nothing was claimed).
    pub redeem_rate: f64,
    /// The cost of the range's redemptions in yuan: `cost_type` 1, `cost_value` yuan each;
    /// `cost_type` 2, `cost_value` percent of the card's `cash_amount`; 0 without a cost.
    pub redeem_cost: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardTop {
    pub receive_top: Vec<TopCard>,
    pub redeem_top: Vec<TopCard>,
}

/// The ten cards with the most claims and the ten with the most redemptions in the range, with
/// their titles, redemption rates and redemption costs.
#[utoipa::path(get, path = "/api/crm/dashbord/{crm_id}/card_top", tag = "analytics",
    params(("crm_id" = String, Path), RangeQuery), responses((status = 200, body = CardTop)))]
pub async fn card_top(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(_crm_id): Path<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<axum::Json<schemas::ApiResponse<CardTop>>, ApiError> {
    let a = asked(&tenant, &q)?;
    let card = card_filter(&q)?;
    Ok(ok("ok", top(&state, &tenant.crm_id, a.range, card.as_deref()).await?))
}

pub async fn top(state: &AppState, crm_id: &str, range: DayRange, card_id: Option<&str>) -> Result<CardTop, ApiError> {
    let rows = sqlx::query!(
        r#"select d.dim as card_id, coalesce(c.title, '') as "title!",
                  coalesce(sum(d.events) filter (where d.series = 'cards.receive'), 0)::bigint as "received!",
                  coalesce(sum(d.events) filter (where d.series = 'cards.redeem'), 0)::bigint as "redeemed!",
                  c.cost_type, c.cost_value, c.cash_amount_cents
             from analytics_day d left join card_info c on c.crm_id = d.crm_id and c.card_id = d.dim
            where d.crm_id = $1 and d.series in ('cards.receive', 'cards.redeem') and d.day between $2 and $3
              and ($4::text is null or d.dim = $4)
            group by d.dim, c.title, c.cost_type, c.cost_value, c.cash_amount_cents"#,
        crm_id,
        range.from,
        range.to,
        card_id,
    )
    .fetch_all(&state.db)
    .await?;
    let cards: Vec<TopCard> = rows
        .into_iter()
        .map(|r| {
            let each = match (r.cost_type, r.cost_value) {
                (Some(1), Some(v)) => v,
                (Some(2), Some(pct)) => r.cash_amount_cents.unwrap_or(0) as f64 / 100.0 * pct / 100.0,
                _ => 0.0,
            };
            TopCard {
                receive_num: r.received,
                card_id: r.card_id,
                title: r.title,
                received: r.received,
                redeemed: r.redeemed,
                redeem_rate: if r.received > 0 { r.redeemed as f64 / r.received as f64 } else { 0.0 },
                redeem_cost: (each * r.redeemed as f64 * 100.0).round() / 100.0,
            }
        })
        .collect();
    let pick = |by_redeem: bool| {
        let mut list: Vec<&TopCard> =
            cards.iter().filter(|c| if by_redeem { c.redeemed > 0 } else { c.received > 0 }).collect();
        list.sort_by(|a, b| {
            let (x, y) = if by_redeem { (a.redeemed, b.redeemed) } else { (a.received, b.received) };
            y.cmp(&x).then_with(|| a.card_id.cmp(&b.card_id))
        });
        list.into_iter()
            .take(10)
            .map(|c| TopCard {
                receive_num: if by_redeem { c.redeemed } else { c.received },
                card_id: c.card_id.clone(),
                title: c.title.clone(),
                ..*c
            })
            .collect::<Vec<_>>()
    };
    Ok(CardTop { receive_top: pick(false), redeem_top: pick(true) })
}
