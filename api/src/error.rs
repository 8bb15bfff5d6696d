//! The API's error type, its response shape, and the JSON and query extractors that turn a
//! malformed request into *our* error (a 4xx naming the field), never axum's plain text.

use axum::{
    body::Bytes,
    extract::{
        rejection::{BytesRejection, JsonRejection, MissingJsonContentType, QueryRejection},
        FromRequest, FromRequestParts, Request,
    },
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use schemas::FieldError;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or not the JSON of this endpoint.
    #[error("{msg}")]
    BadRequest { field: Option<String>, msg: String },
    /// A field is missing, of the wrong type, or out of range.
    #[error("{field}: {msg}")]
    Invalid { field: String, msg: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the limit (`MAX_BODY_BYTES`, or the import's `IMPORT_MAX_BYTES`).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The tenant is over its rate limit (the rate-limit middleware adds `Retry-After`).
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency is down; the client should retry (with the same key).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> ApiError {
        ApiError::Invalid { field: field.into(), msg: msg.into() }
    }

    /// The HTTP status and the envelope's code (also seed 001's `errcode`).
    pub(crate) fn parts(&self) -> (StatusCode, i32) {
        match self {
            ApiError::BadRequest { .. } => (StatusCode::BAD_REQUEST, 40000),
            ApiError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, 42200),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, 40100),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, 40300),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, 40400),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, 40900),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, 41500),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, 41300),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, 42900),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, 50300),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, 50000),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> ApiError {
        ApiError::Invalid { field: e.field, msg: e.message }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        // PostgreSQL text cannot hold NUL: a value carrying one is the client's error, not ours.
        if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("22021") {
            return ApiError::BadRequest { field: None, msg: "a text value contains a NUL character".into() };
        }
        if platform::db::is_transient(&e) {
            ApiError::Unavailable(format!("the database is unavailable, retry later ({e})"))
        } else {
            ApiError::Internal(e.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let (msg, field) = match &self {
            ApiError::Internal(e) => {
                // Logged once, here, inside the request's span; the client gets no internals.
                tracing::error!(error = ?e, "internal error");
                ("internal error".to_string(), None)
            }
            ApiError::Invalid { field, msg } => (format!("{field}: {msg}"), Some(field.clone())),
            ApiError::BadRequest { field, msg } => (msg.clone(), field.clone()),
            other => (other.to_string(), None),
        };
        let body = match field {
            Some(field) => json!({ "code": code, "msg": msg, "data": { "field": field } }),
            None => json!({ "code": code, "msg": msg }),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Finds the field a serde message is about: `missing field `x``, `unknown field `x``, or the
/// `path: …` prefix that axum's JSON extractor puts before a type error.
fn field_of(text: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `", "duplicate field `"] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            return rest.split('`').next().map(str::to_string);
        }
    }
    let detail = text.split_once("target type: ").map_or(text, |(_, d)| d);
    let (path, _) = detail.split_once(": ")?;
    let path = path.trim();
    // `[0]` is a position in a top-level array, not a field: the body is not an object at all.
    (!path.is_empty() && !path.contains(' ') && path != "." && !path.starts_with('[')).then(|| path.to_string())
}

/// `Json<T>` whose rejections are [`ApiError`]s naming the field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(MissingJsonContentType::default().into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(bytes_rejection)?;
        // A valid body is read once, without tracking where the reader is (axum's `Json` does,
        // through serde_path_to_error: ~2 % of an accepted request's instructions, issue 14).
        // One that fails is read again below by `Json`, whose error names the field.
        if let Ok(value) = serde_json::from_slice::<T>(&bytes) {
            return Ok(ApiJson(value));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection @ JsonRejection::JsonDataError(_)) => {
                // JSON does not tell `153` from `153.0`, and JSON Schema calls both integers, but
                // serde's integer types refuse the second. On this error path only (the valid
                // request pays nothing), retry once with integral floats written as integers; if
                // that fails too, its error names the field that is really wrong.
                match integral_floats_as_integers(&bytes) {
                    Some(rewritten) => match axum::Json::<T>::from_bytes(&rewritten) {
                        Ok(axum::Json(v)) => Ok(ApiJson(v)),
                        Err(again) => Err(json_rejection(again)),
                    },
                    None => Err(json_rejection(rejection)),
                }
            }
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json`, or any `application/*+json`, as axum's `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence
        .split_once('/')
        .is_some_and(|(kind, sub)| kind == "application" && (sub == "json" || sub.ends_with("+json")))
}

fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the body is larger than this endpoint accepts".into())
    } else {
        ApiError::BadRequest { field: None, msg: rejection.body_text() }
    }
}

/// The body with every number that has no fractional part and fits an `i64` written as an
/// integer; `None` when there is none (the first error stands).
fn integral_floats_as_integers(bytes: &[u8]) -> Option<Vec<u8>> {
    fn rewrite(value: &mut Value) -> bool {
        match value {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                // 2^63 is exactly representable; every integral f64 below it in magnitude fits an i64.
                if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 {
                    *value = Value::from(f as i64);
                    return true;
                }
                false
            }
            Value::Array(items) => items.iter_mut().fold(false, |changed, v| rewrite(v) | changed),
            Value::Object(fields) => fields.values_mut().fold(false, |changed, v| rewrite(v) | changed),
            _ => false,
        }
    }
    let mut value: Value = serde_json::from_slice(bytes).ok()?;
    if !rewrite(&mut value) {
        return None;
    }
    // Back to text rather than `from_value`: a `RawValue` field deserializes only from text.
    serde_json::to_vec(&value).ok()
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::JsonDataError(_) => {
            let detail = text.split_once("target type: ").map_or(text.as_str(), |(_, d)| d).to_string();
            match field_of(&text) {
                Some(field) => {
                    // "member_no: invalid type…" → "invalid type…": the field is said once.
                    let msg = detail.strip_prefix(&format!("{field}: ")).map_or(detail.clone(), str::to_string);
                    ApiError::Invalid { field, msg }
                }
                None => ApiError::BadRequest { field: None, msg: detail },
            }
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::BadRequest { field: None, msg: format!("the body is not valid JSON: {text}") }
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send the body as JSON with `Content-Type: application/json`".into())
        }
        _ => ApiError::BadRequest { field: None, msg: text },
    }
}

/// `Query<T>` whose rejections are [`ApiError`]s naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rejection) => {
                let text = match &rejection {
                    QueryRejection::FailedToDeserializeQueryString(e) => e.body_text(),
                    other => other.body_text(),
                };
                let detail = text.split_once("query string: ").map_or(text.as_str(), |(_, d)| d).to_string();
                Err(match field_of(&detail) {
                    Some(field) => {
                        let msg = detail.strip_prefix(&format!("{field}: ")).map_or(detail.clone(), str::to_string);
                        ApiError::Invalid { field, msg }
                    }
                    None => ApiError::BadRequest { field: None, msg: detail },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn finds_the_field_in_serde_messages() {
        for (text, want) in [
            ("Failed to deserialize the JSON body into the target type: missing field `event_no` at line 1 column 2", Some("event_no")),
            ("Failed to deserialize the JSON body into the target type: member_no: invalid type: integer `5`, expected a string at line 1 column 30", Some("member_no")),
            ("Failed to deserialize the JSON body into the target type: unknown field `foo`, expected one of `a`", Some("foo")),
            ("Failed to deserialize the JSON body into the target type: invalid type: integer `1`, expected struct X", None),
        ] {
            assert_eq!(field_of(text).as_deref(), want, "{text}");
        }
    }
}
