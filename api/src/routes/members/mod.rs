//! The members domain of seed 002 (Convertlab DM Hub's loyalty API) under `/loyalty/v1`:
//! profiles with custom `c_` attributes, identities, the point log, custom attribute
//! declarations, erasure, and the member feeds of seed 000.
//!
//! Profile writes are synchronous SQL (one transaction each), not queue work: a client creating
//! a member reads it back at once, and the mobile's uniqueness is a unique index answered in the
//! request (two concurrent binds of one mobile: one commits, the other gets 409).
//! Authentication is the seed's `?access_token=` (the tenant's API key) or a Bearer token; the
//! tenant is the key's. Errors are the seed's `{"error": {"code", "message"}}` ([`error`]).

pub mod attributes;
pub mod commands;
pub mod docs;
pub mod error;
pub mod feeds;
pub mod levels;
pub mod push;
pub mod queries;
pub mod store;

pub use error::MemberError;

use axum::{
    routing::{delete, get, post, put},
    Router,
};

use crate::AppState;

/// The `/loyalty/v1` routes (the caller adds the access-token layer).
pub fn router() -> Router<AppState> {
    let v = "/loyalty/v1";
    Router::new()
        .route(&format!("{v}/membership"), get(queries::list))
        .route(&format!("{v}/membershipAndIdentities"), post(commands::create))
        .route(&format!("{v}/membership/{{id}}"), get(queries::one).put(commands::update))
        .route(&format!("{v}/membership/{{id}}/bindIdentity"), post(commands::bind_identity))
        .route(&format!("{v}/membership/{{id}}/erase"), post(commands::erase))
        .route(&format!("{v}/membership/{{id}}/point"), get(queries::point_log))
        .route(&format!("{v}/membership/{{id}}/exp/changeLogs"), get(queries::exp_log))
        .route(&format!("{v}/membership/identity/{{id}}"), delete(commands::delete_identity))
        .route(&format!("{v}/membershipService/getMembershipByIdentity"), get(queries::by_identity))
        .route(&format!("{v}/membershipService/listMembershipByIdentities"), post(queries::by_identities))
        .route(&format!("{v}/membershipService/updateMobile"), put(commands::update_mobile))
        .route(&format!("{v}/membershipService/getMembershipIdentityByMd5"), get(queries::by_md5))
        .route(&format!("{v}/settings/attributes"), get(attributes::list).post(attributes::create))
        .route(&format!("{v}/settings/attributes/{{code}}"), delete(attributes::remove))
        .route(&format!("{v}/appPush/register"), post(push::register))
        .route(&format!("{v}/settings/level"), post(levels::create))
        .route(&format!("{v}/settings/level/{{id}}"), put(levels::update).delete(levels::remove))
        .route(&format!("{v}/settings/level/rules"), get(levels::rules))
        .route(&format!("{v}/membership/{{id}}/level/changeLogs"), get(levels::change_log))
}

/// Seed 000's member feeds (native API, `{crm_id}` in the path, the native key check).
pub fn feed_router() -> Router<AppState> {
    let m = "/api/crm/mgr/member/{crm_id}";
    Router::new()
        .route(&format!("{m}/source/increment"), post(feeds::source))
        .route(&format!("{m}/info/increment"), post(feeds::info))
}
