//! The cards domain of seed 003 under `/api/crm/card/{crm_id}`: definitions, stock, the member
//! commands (through the ingress) and the member queries.

pub mod commands;
pub mod definitions;
pub mod queries;
pub mod stock;

use axum::{
    routing::{get, post},
    Router,
};
use schemas::cards::{PresentReceive, PresentRequest, ReceiveRequest, ReceiveReverse, RedeemRequest, RedeemReverse};

use super::number;
use crate::{ingress::command, AppState};

/// Every card route (all need the tenant's key: the caller adds that layer).
pub fn router() -> Router<AppState> {
    let c = "/api/crm/card/{crm_id}";
    Router::new()
        .route(&format!("{c}/create"), post(definitions::create))
        .route(&format!("{c}/detail"), get(definitions::detail))
        .route(&format!("{c}/list"), get(definitions::list))
        .route(&format!("{c}/remove"), post(definitions::remove))
        .route(&format!("{c}/add/stock"), post(stock::add_stock))
        // Streamed: its size limit is IMPORT_MAX_BYTES, checked by `crate::edge` and as
        // the body is read.
        .route(stock::IMPORT_ROUTE, post(stock::import))
        .route(&format!("{c}/member/receive"), post(command::<ReceiveRequest>))
        .route(&format!("{c}/member/receive_reverse"), post(command::<ReceiveReverse>))
        .route(&format!("{c}/member/redeem"), post(command::<RedeemRequest>))
        .route(&format!("{c}/member/redeem_reverse"), post(command::<RedeemReverse>))
        .route(&format!("{c}/member/present"), post(command::<PresentRequest>))
        .route(&format!("{c}/member/present_receive"), post(command::<PresentReceive>))
        .route(&format!("{c}/member/card_list"), get(queries::member_cards))
        .route(&format!("{c}/member/card_detail"), get(queries::card_detail))
        .route(&format!("{c}/member/receive_detail"), get(queries::receive_detail))
        .route(&format!("{c}/member/present_list"), get(queries::present_list))
        .route(&format!("{c}/member/present_detail"), get(queries::present_detail))
        // `{*key}`: some keys hold a slash (present_receive's, generate_id's).
        .route(&format!("{c}/outcomes/{{key_kind}}/{{*key}}"), get(super::outcomes::cards_outcome))
}
