//! The points domain of seed 000 under `/api/crm/mgr/points/{crm_id}`: rules, commands (through
//! the ingress), queries and the incremental feeds.

pub mod commands;
pub mod feeds;
pub mod level_rules;
pub mod queries;
pub mod rules;

use axum::{
    routing::{get, post},
    Router,
};

use schemas::points::{
    AcceptRequest, ConsumeRequest, EarnEventRequest, FreezeRequest, ReverseRequest, TransferRequest, UnfreezeRequest,
};

use crate::{ingress::command, AppState};

/// Every points route (all need the tenant's key: the caller adds that layer).
pub fn router() -> Router<AppState> {
    let p = "/api/crm/mgr/points/{crm_id}";
    Router::new()
        .route(&format!("{p}/rules/produce_scene"), post(rules::create_produce))
        .route(&format!("{p}/rules/produce_scene/update"), post(rules::update_produce))
        .route(&format!("{p}/rules/consume_scene"), post(rules::create_consume))
        .route(&format!("{p}/rules/consume_scene/update"), post(rules::update_consume))
        .route(&format!("{p}/rules/lot_delete"), post(rules::delete))
        .route(&format!("{p}/rules/query"), post(rules::query))
        .route(&format!("{p}/level_rules/save"), post(level_rules::save))
        .route(&format!("{p}/level_rules/delete"), post(level_rules::delete))
        .route(&format!("{p}/level_rules/get"), post(level_rules::get))
        .route(&format!("{p}/scene_info"), get(rules::scene_info))
        .route(&format!("{p}/events"), post(command::<EarnEventRequest>))
        .route(&format!("{p}/consume"), post(command::<ConsumeRequest>))
        .route(&format!("{p}/consume/preview"), post(commands::preview))
        .route(&format!("{p}/reverse"), post(command::<ReverseRequest>))
        .route(&format!("{p}/transfer"), post(command::<TransferRequest>))
        .route(&format!("{p}/accept"), post(command::<AcceptRequest>))
        .route(&format!("{p}/freeze"), post(command::<FreezeRequest>))
        .route(&format!("{p}/unfreeze"), post(command::<UnfreezeRequest>))
        .route(&format!("{p}/events/{{event_no}}"), get(queries::get_event))
        .route(&format!("{p}/events/{{event_no}}/explain"), get(queries::explain))
        // `{*key}`: some keys hold a slash (accept's `{transfer_no}/{member_no}`).
        .route(&format!("{p}/outcomes/{{key_kind}}/{{*key}}"), get(super::outcomes::points_outcome))
        .route(&format!("{p}/history"), post(queries::history))
        .route(&format!("{p}/summary"), get(queries::summary))
        .route(&format!("{p}/history/increment"), post(feeds::history))
        .route(&format!("{p}/summary/increment"), post(feeds::summary))
}
