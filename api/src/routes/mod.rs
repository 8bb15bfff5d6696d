//! The routes, one file per resource.

pub mod admin;
pub mod card_queries;
pub mod cards;
pub mod events;
pub mod feeds;
pub mod history;
pub mod ops;
pub mod rules;
pub mod spend;

use axum::{
    routing::{get, post},
    Router,
};

use crate::AppState;

/// The tenant API of seed 000 (every path carries `{crm_id}`; all need the tenant's key).
pub fn tenant_routes() -> Router<AppState> {
    let p = "/api/crm/mgr/points/{crm_id}";
    Router::new()
        .route(&format!("{p}/rules/produce_scene"), post(rules::create_produce))
        .route(&format!("{p}/rules/produce_scene/update"), post(rules::update_produce))
        .route(&format!("{p}/rules/consume_scene"), post(spend::create_consume))
        .route(&format!("{p}/rules/consume_scene/update"), post(spend::update_consume))
        .route(&format!("{p}/rules/lot_delete"), post(rules::delete))
        .route(&format!("{p}/rules/query"), post(rules::query))
        .route(&format!("{p}/scene_info"), get(rules::scene_info))
        .route(&format!("{p}/events"), post(events::post_event))
        .route(&format!("{p}/events/{{event_no}}"), get(events::get_event))
        .route(&format!("{p}/consume"), post(spend::consume))
        .route(&format!("{p}/consume/preview"), post(spend::preview))
        .route(&format!("{p}/reverse"), post(spend::reverse))
        .route(&format!("{p}/transfer"), post(spend::transfer))
        .route(&format!("{p}/accept"), post(spend::accept))
        .route(&format!("{p}/freeze"), post(spend::freeze))
        .route(&format!("{p}/unfreeze"), post(spend::unfreeze))
        .route(&format!("{p}/history"), post(history::history))
        .route(&format!("{p}/summary"), get(history::summary))
        .route(&format!("{p}/history/increment"), post(feeds::history))
        .route("/api/crm/card/{crm_id}/create", post(cards::create))
        .route("/api/crm/card/{crm_id}/detail", get(cards::detail))
        .route("/api/crm/card/{crm_id}/list", get(cards::list))
        .route("/api/crm/card/{crm_id}/remove", post(cards::remove))
        .route("/api/crm/card/{crm_id}/add/stock", post(cards::add_stock))
        // Up to 2,000,000 codes of up to 64 characters per import.
        .route(
            "/api/crm/card/{crm_id}/import",
            post(cards::import).layer(axum::extract::DefaultBodyLimit::max(160 << 20)),
        )
        .route("/api/crm/card/{crm_id}/member/receive", post(cards::receive))
        .route("/api/crm/card/{crm_id}/member/receive_reverse", post(cards::receive_reverse))
        .route("/api/crm/card/{crm_id}/member/card_list", get(card_queries::member_cards))
        .route("/api/crm/card/{crm_id}/member/card_detail", get(card_queries::card_detail))
        .route("/api/crm/card/{crm_id}/member/receive_detail", get(card_queries::receive_detail))
        .route("/api/crm/card/{crm_id}/member/present_list", get(card_queries::present_list))
        .route("/api/crm/card/{crm_id}/member/present_detail", get(card_queries::present_detail))
        .route("/api/crm/card/{crm_id}/member/redeem", post(cards::redeem))
        .route("/api/crm/card/{crm_id}/member/present", post(cards::present))
        .route("/api/crm/card/{crm_id}/member/present_receive", post(cards::present_receive))
        .route("/api/crm/card/{crm_id}/member/redeem_reverse", post(cards::redeem_reverse))
        .route(&format!("{p}/summary/increment"), post(feeds::summary))
}

/// `{"code":0,"msg":…,"data":…}` with status 200.
pub fn ok<T: serde::Serialize>(msg: &str, data: T) -> axum::Json<schemas::ApiResponse<T>> {
    axum::Json(schemas::ApiResponse::ok(msg, data))
}
