//! The members domain's error: seed 002's `{"error": {"code", "message"}}`, for the
//! `/loyalty/v1` routes only (the native API keeps its `{code, msg, data}` envelope).
//!
//! Codes are the seed's: `400005` a missing field, `400001` an invalid one (the message names
//! it, never its value: personal data stays out of answers and logs), `409224` the member's last
//! identity, `409225` no such identity, `409200` nothing found by MD5 (HTTP 200, as the seed
//! shows). The seed writes the two identity codes as numbers and the others as text: so do we.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use schemas::FieldError;
use serde_json::{json, Value};

use crate::error::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("Missing field {0}!")]
    Missing(String),
    #[error("Invalid {field}: {msg}!")]
    Invalid { field: String, msg: String },
    /// A value outside the field's choices, quoted as the seed does (`Invalid os(winphone)!`):
    /// only for fields whose values are not personal data.
    #[error("Invalid {field}({value})!")]
    InvalidChoice { field: String, value: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the member's current state (`oldMobile` not its mobile, a
    /// `membershipCode` already set).
    #[error("{0}")]
    Conflict(String),
    /// The mobile is another member's, or the membershipCode is taken.
    #[error("{0}")]
    Taken(String),
    #[error("Identity is last one")]
    LastIdentity,
    #[error("Identity not found")]
    IdentityNotFound,
    #[error("Not found")]
    Md5NotFound,
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    TooMany(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl MemberError {
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> MemberError {
        MemberError::Invalid { field: field.into(), msg: msg.into() }
    }

    fn parts(&self) -> (StatusCode, Value) {
        match self {
            MemberError::Missing(_) => (StatusCode::BAD_REQUEST, json!("400005")),
            MemberError::Invalid { .. } | MemberError::InvalidChoice { .. } => {
                (StatusCode::BAD_REQUEST, json!("400001"))
            }
            MemberError::BadRequest(_) => (StatusCode::BAD_REQUEST, json!("400000")),
            MemberError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, json!("401000")),
            MemberError::NotFound(_) => (StatusCode::NOT_FOUND, json!("404000")),
            MemberError::Conflict(_) => (StatusCode::CONFLICT, json!("409000")),
            MemberError::Taken(_) => (StatusCode::CONFLICT, json!("409001")),
            MemberError::LastIdentity => (StatusCode::CONFLICT, json!(409224)),
            MemberError::IdentityNotFound => (StatusCode::CONFLICT, json!(409225)),
            MemberError::Md5NotFound => (StatusCode::OK, json!("409200")),
            MemberError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, json!("413000")),
            MemberError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, json!("429000")),
            MemberError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, json!("503000")),
            MemberError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, json!("500000")),
        }
    }
}

impl From<FieldError> for MemberError {
    fn from(e: FieldError) -> MemberError {
        MemberError::Invalid { field: e.field, msg: e.message }
    }
}

/// The native API's errors, re-shaped: the extractors and the shared helpers answer these.
impl From<ApiError> for MemberError {
    fn from(e: ApiError) -> MemberError {
        match e {
            ApiError::Invalid { field, msg } if msg.starts_with("missing field") => MemberError::Missing(field),
            ApiError::Invalid { field, msg } => MemberError::Invalid { field, msg },
            ApiError::BadRequest { msg, .. } | ApiError::UnsupportedMediaType(msg) => MemberError::BadRequest(msg),
            ApiError::Unauthorized(m) | ApiError::Forbidden(m) => MemberError::Unauthorized(m),
            ApiError::NotFound(m) => MemberError::NotFound(m),
            ApiError::Conflict(m) => MemberError::Taken(m),
            ApiError::PayloadTooLarge(m) => MemberError::TooLarge(m),
            ApiError::TooManyRequests(m) => MemberError::TooMany(m),
            ApiError::Unavailable(m) => MemberError::Unavailable(m),
            ApiError::Internal(e) => MemberError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for MemberError {
    fn from(e: sqlx::Error) -> MemberError {
        // The unique indexes: the message names the rule, never the value (it may be a mobile).
        if let Some(constraint) = e.as_database_error().and_then(|d| d.constraint()) {
            match constraint {
                "member_mobile" | "member_identity_mobile" => {
                    return MemberError::Taken("the mobile is bound to another member".into())
                }
                "member_member_no" => return MemberError::Taken("the membershipCode is another member's".into()),
                "member_level_crm_id_priority_key" => {
                    return MemberError::Taken("another level has this priority".into())
                }
                _ => {}
            }
        }
        ApiError::from(e).into()
    }
}

impl IntoResponse for MemberError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        if let MemberError::Internal(e) = &self {
            // Logged once, in the request's span; sqlx errors carry no bound values.
            tracing::error!(error = ?e, "internal error");
        }
        (status, axum::Json(json!({ "error": { "code": code, "message": self.to_string() } }))).into_response()
    }
}

/// A member's (or level's) id in the path, its rejection in the seed's shape (axum's own is
/// plain text).
pub struct MemberId(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MemberId {
    type Rejection = MemberError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(text) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| MemberError::invalid("id", "must be an id"))?;
        match text.parse::<i64>() {
            Ok(id) if id >= 1 => Ok(MemberId(id)),
            _ => Err(MemberError::invalid("id", "must be an id (1 or more)")),
        }
    }
}
