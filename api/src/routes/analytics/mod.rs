//! The dashboards (issue 10): seed 000's points analytics under
//! `/api/crm/mgr/analyze/{crm_id}/points/…`, seed 003's card dashboards under
//! `/api/crm/dashbord/{crm_id}/…` (the seed's spelling), read from the aggregates the analytics
//! consumer builds (`workers::analytics`), and the dashboard page at `/dashboard/{crm_id}`.

pub mod cards;
pub mod page;
pub mod queries;

use axum::{
    routing::{get, post},
    Router,
};

use crate::AppState;

/// The dashboards' JSON routes (all need the tenant's key: the caller adds that layer).
pub fn router() -> Router<AppState> {
    let p = "/api/crm/mgr/analyze/{crm_id}/points";
    let c = "/api/crm/dashbord/{crm_id}";
    Router::new()
        .route(&format!("{p}/total"), get(queries::points_total))
        .route(&format!("{p}/trend"), get(queries::points_trend))
        .route(&format!("{p}/distr"), get(queries::points_distr))
        .route(&format!("{p}/export"), get(queries::points_export))
        .route(&format!("{c}/card_trend"), get(cards::card_trend))
        .route(&format!("{c}/card_channel"), get(cards::card_channel))
        .route(&format!("{c}/card_top"), get(cards::card_top))
        .route(&format!("{c}/page_link"), post(page::page_link))
}
