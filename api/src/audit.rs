//! The audit log of management changes: who (the request's API key, or the admin token), what
//! (entity, its id, the action), the entity before and after as JSON, when. One call,
//! [`record`], in the transaction of the change, so the log and the change commit together.
//! The table refuses UPDATE, DELETE and TRUNCATE (a trigger): it is append-only. The tenant
//! reads its own log, newest first, paged: `GET /api/crm/audit/{crm_id}`.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    auth::Tenant,
    error::{ApiError, ApiQuery},
    routes::{number, ok},
    AppState,
};

/// Who made a change, and in which tenant.
#[derive(Debug, Clone)]
pub struct Actor {
    pub crm_id: String,
    /// The API key (`api_key.key_id`); `None`: the admin token.
    pub key_id: Option<i64>,
}

impl Actor {
    /// The tenant's request, by the key it was made with.
    pub fn tenant(tenant: &Tenant) -> Actor {
        Actor { crm_id: tenant.crm_id.clone(), key_id: Some(tenant.key_id) }
    }

    /// The admin token, acting on `crm_id`.
    pub fn admin(crm_id: &str) -> Actor {
        Actor { crm_id: crm_id.to_string(), key_id: None }
    }
}

/// Appends one entry: `entity` (e.g. `produce_rule`, `card`, `api_key`), its id, the `action`
/// (`create`, `update`, `delete`, `revoke`, …), and the entity as JSON before and after (`None`
/// where there is none: before a creation, after a deletion).
pub async fn record(
    tx: &mut PgConnection,
    actor: &Actor,
    entity: &str,
    entity_id: &str,
    action: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into audit_log (crm_id, actor, actor_key_id, entity, entity_id, action, before, after)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        actor.crm_id,
        if actor.key_id.is_some() { "key" } else { "admin" },
        actor.key_id,
        entity,
        entity_id,
        action,
        before,
        after,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The JSON of an entity for [`record`].
pub fn json<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page number from 1 (default 1).
    pub page_id: Option<String>,
    /// Entries per page, 1 to 100 (default 20).
    pub page_size: Option<String>,
}

/// One change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub audit_id: i64,
    /// `admin` (the admin token) or `key` (the tenant's API key `actor_key_id`).
    pub actor: String,
    pub actor_key_id: Option<i64>,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub total: i64,
    pub page_id: i64,
    pub page_size: i64,
    pub items: Vec<AuditEntry>,
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/crm/audit/{crm_id}", params(("crm_id" = String, Path), AuditQuery), tag = "audit",
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(_tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<axum::Json<schemas::ApiResponse<AuditPage>>, ApiError> {
    let page_id = number("page_id", q.page_id.as_deref())?;
    let page_size = number("page_size", q.page_size.as_deref())?;
    let (page_id, page_size) = schemas::checks::paging(page_id, page_size, 20, 100)?;
    let total = sqlx::query_scalar!(r#"select count(*) as "n!" from audit_log where crm_id = $1"#, crm_id)
        .fetch_one(&state.db)
        .await?;
    let items = sqlx::query_as!(
        AuditEntry,
        "select audit_id, actor, actor_key_id, entity, entity_id, action, before, after, at from audit_log
         where crm_id = $1 order by audit_id desc limit $2 offset $3",
        crm_id,
        page_size,
        (page_id - 1) * page_size,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(ok("OK", AuditPage { total, page_id, page_size, items }))
}
