//! The native API's response envelope `{"code", "msg", "data"}`.

use serde::{Deserialize, Serialize};

/// `code` 0 is success; an error carries a non-zero code and a message a person can act on.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiResponse<T> {
    pub code: i32,
    pub msg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
}

impl<T> ApiResponse<T> {
    pub fn ok(msg: impl Into<String>, data: T) -> Self {
        ApiResponse { code: 0, msg: msg.into(), data: Some(data) }
    }
}

/// The field a client got wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}
