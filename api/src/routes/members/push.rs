//! `POST /loyalty/v1/appPush/register` (seed 002 §12): a push device, linked to the member found
//! by `membershipId`, else by `mobile`, else registered anonymous (`membershipId` null).
//! Registering a device again re-links it.

use axum::{extract::State, Extension, Json};
use schemas::{checks::check_len, members::check_mobile};
use serde_json::{json, Map, Value};

use super::{commands::body, MemberError};
use crate::{auth::Tenant, error::ApiJson, AppState};

fn text<'a>(b: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, MemberError> {
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(MemberError::invalid(field, "must be a text")),
    }
}

fn required<'a>(b: &'a Map<String, Value>, field: &str) -> Result<&'a str, MemberError> {
    let v = text(b, field)?.ok_or_else(|| MemberError::Missing(field.into()))?;
    check_len(field, v, 256)?;
    Ok(v)
}

/// `POST /loyalty/v1/appPush/register`.
#[utoipa::path(post, path = "/loyalty/v1/appPush/register", tag = "members", request_body = crate::routes::members::docs::PushRequest, responses((status = 200, body = crate::routes::members::docs::PushDevice)))]
pub async fn register(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<Map<String, Value>>, crate::error::ApiError>,
) -> Result<Json<Value>, MemberError> {
    let b = body(b).await?;
    let provider = required(&b, "provider")?;
    let app_key = required(&b, "appKey")?;
    let push_id = required(&b, "pushId")?;
    let os = required(&b, "os")?;
    if provider != "jpush" && provider != "getui" {
        return Err(MemberError::InvalidChoice { field: "provider".into(), value: provider.into() });
    }
    if os != "android" && os != "ios" {
        return Err(MemberError::InvalidChoice { field: "os".into(), value: os.into() });
    }
    let member_id = match b.get("membershipId") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            Some(n.as_i64().ok_or_else(|| MemberError::invalid("membershipId", "must be an id"))?)
        }
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.parse().map_err(|_| MemberError::invalid("membershipId", "must be an id"))?),
        Some(_) => return Err(MemberError::invalid("membershipId", "must be an id")),
    };
    let mobile = text(&b, "mobile")?;
    if let Some(m) = mobile {
        check_mobile("mobile", m)?;
    }
    let crm = &tenant.crm_id;
    let found: Option<i64> = sqlx::query_scalar(
        "select id from (
           select id, 0 as rank from member where crm_id = $1 and id = $2
           union all
           select id, 1 from member where crm_id = $1 and mobile = $3) m
         order by rank limit 1",
    )
    .bind(crm)
    .bind(member_id)
    .bind(mobile)
    .fetch_optional(&state.db)
    .await?;
    sqlx::query(
        "insert into member_push_device (crm_id, provider, app_key, push_id, os, member_id)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (crm_id, provider, app_key, push_id)
         do update set os = excluded.os, member_id = excluded.member_id, updated_at = now()",
    )
    .bind(crm)
    .bind(provider)
    .bind(app_key)
    .bind(push_id)
    .bind(os)
    .bind(found)
    .execute(&state.db)
    .await?;
    tracing::info!(membership_id = found, provider, os, "push device registered");
    Ok(Json(json!({"appKey": app_key, "membershipId": found, "os": os, "provider": provider, "pushId": push_id})))
}
