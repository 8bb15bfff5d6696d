//! The tenant's custom attribute declarations (the seed has no API for them; DM Hub declares
//! them in its settings page): `GET` lists, `POST` declares one, `DELETE` removes one and its
//! values. A declaration's type is fixed once declared: to change it, delete and declare again
//! (a changed type would leave stored values that no longer check).

use crate::audit;
use axum::{
    extract::{Path, State},
    Extension, Json,
};
use schemas::members::AttributeDecl;
use serde_json::{json, Value};

use super::{commands::body, store, MemberError};
use crate::{auth::Tenant, error::ApiJson, AppState};

type Answer = Result<Json<Value>, MemberError>;

/// `GET /loyalty/v1/settings/attributes`: `{"rows": [{code, name, type, options}]}`.
#[utoipa::path(get, path = "/loyalty/v1/settings/attributes", tag = "members", responses((status = 200, body = crate::routes::members::docs::Attributes)))]
pub async fn list(State(state): State<AppState>, Extension(tenant): Extension<Tenant>) -> Answer {
    let mut db = state.db.acquire().await?;
    Ok(Json(json!({ "rows": store::declarations(&mut db, &tenant.crm_id).await? })))
}

/// `POST /loyalty/v1/settings/attributes`: declares a `c_` attribute (409 if declared).
#[utoipa::path(post, path = "/loyalty/v1/settings/attributes", tag = "members", request_body = AttributeDecl, responses((status = 200, body = AttributeDecl)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<AttributeDecl>, crate::error::ApiError>,
) -> Answer {
    let decl = body(b).await?;
    decl.validate()?;
    let mut tx = state.db.begin().await?;
    let inserted = sqlx::query(
        "insert into member_attribute (crm_id, code, name, type, options) values ($1, $2, $3, $4, $5)
         on conflict (crm_id, code) do nothing",
    )
    .bind(&tenant.crm_id)
    .bind(&decl.code)
    .bind(&decl.name)
    .bind(decl.kind.as_str())
    .bind(decl.options.as_ref().map(sqlx::types::Json))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(MemberError::Taken(format!("attribute {} is already declared", decl.code)));
    }
    let view = serde_json::to_value(&decl).map_err(|e| MemberError::Internal(e.into()))?;
    let actor = audit::Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "member_attribute", &decl.code, "create", None, Some(view.clone())).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `DELETE /loyalty/v1/settings/attributes/{code}`: the declaration and every member's value.
#[utoipa::path(delete, path = "/loyalty/v1/settings/attributes/{code}", tag = "members", params(("code" = String, Path)), responses((status = 200, body = crate::routes::members::docs::Success)))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    Path(code): Path<String>,
) -> Answer {
    let mut tx = state.db.begin().await?;
    let deleted: Option<(String, String, Option<serde_json::Value>)> =
        sqlx::query_as("delete from member_attribute where crm_id = $1 and code = $2 returning name, type, options")
            .bind(&tenant.crm_id)
            .bind(&code)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((name, kind, options)) = deleted else {
        return Err(MemberError::NotFound(format!("attribute {code} is not declared")));
    };
    let before = json!({ "code": code, "name": name, "type": kind, "options": options });
    let actor = audit::Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "member_attribute", &code, "delete", Some(before), None).await?;
    sqlx::query("update member set custom = custom - $2, updated_at = now() where crm_id = $1 and custom ? $2")
        .bind(&tenant.crm_id)
        .bind(&code)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(json!({"result": "success"})))
}
