//! Level definitions (seed 002 §10 reads them; managing them is ours): create, replace and
//! delete, and `GET /loyalty/v1/settings/level/rules` in the seed's shape. Any change marks the
//! tenant's members for recomputation, which the workers' sweep does (`workers::members`).
//! Also each member's log of level changes.

use axum::{extract::State, Extension, Json};

use crate::audit;
use chrono::{DateTime, Utc};
use schemas::members::{format_datetime, LevelRequest};
use serde_json::{json, Map, Value};

use super::{commands::body, error::MemberId, queries::Paging, MemberError};
use crate::{
    auth::Tenant,
    error::{ApiJson, ApiQuery},
    AppState,
};

type Answer = Result<Json<Value>, MemberError>;

#[derive(sqlx::FromRow)]
struct LevelRow {
    id: i64,
    name: String,
    priority: i32,
    is_forever: bool,
    operator: String,
    rules: sqlx::types::Json<Map<String, Value>>,
    desp: Option<String>,
    status: i16,
}

impl LevelRow {
    fn view(&self) -> Value {
        json!({
            "desp": self.desp, "id": self.id, "isForever": self.is_forever, "name": self.name,
            "operator": self.operator, "priority": self.priority, "rules": self.rules.0, "status": self.status,
        })
    }
}

const LEVEL_COLUMNS: &str = "id, name, priority, is_forever, operator, rules, desp, status";

/// `GET /loyalty/v1/settings/level/rules`: the tenant's levels, lowest first.
#[utoipa::path(get, path = "/loyalty/v1/settings/level/rules", tag = "members", responses((status = 200, body = crate::routes::members::docs::Levels)))]
pub async fn rules(State(state): State<AppState>, Extension(tenant): Extension<Tenant>) -> Answer {
    let rows: Vec<LevelRow> =
        sqlx::query_as(&format!("select {LEVEL_COLUMNS} from member_level where crm_id = $1 order by priority"))
            .bind(&tenant.crm_id)
            .fetch_all(&state.db)
            .await?;
    Ok(Json(json!({ "rows": rows.iter().map(LevelRow::view).collect::<Vec<_>>() })))
}

/// Members of the tenant get their level recomputed by the next sweep round.
async fn mark_members(tx: &mut sqlx::PgConnection, crm_id: &str) -> Result<(), MemberError> {
    sqlx::query("update member set level_checked_at = null where crm_id = $1").bind(crm_id).execute(&mut *tx).await?;
    Ok(())
}

/// `POST /loyalty/v1/settings/level`: a new level (409 if its priority is taken).
#[utoipa::path(post, path = "/loyalty/v1/settings/level", tag = "members", request_body = LevelRequest, responses((status = 200, body = crate::routes::members::docs::Level)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<LevelRequest>, crate::error::ApiError>,
) -> Answer {
    let req = body(b).await?;
    let (and, _) = req.validate()?;
    let mut tx = state.db.begin().await?;
    let row: LevelRow = sqlx::query_as(&format!(
        "insert into member_level (crm_id, name, priority, is_forever, operator, rules, desp)
         values ($1, $2, $3, $4, $5, $6, $7) returning {LEVEL_COLUMNS}"
    ))
    .bind(&tenant.crm_id)
    .bind(&req.name)
    .bind(req.priority as i32)
    .bind(req.is_forever)
    .bind(if and { "and" } else { "or" })
    .bind(sqlx::types::Json(&req.rules))
    .bind(&req.desp)
    .fetch_one(&mut *tx)
    .await?;
    mark_members(&mut tx, &tenant.crm_id).await?;
    let actor = audit::Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "member_level", &row.id.to_string(), "create", None, Some(row.view())).await?;
    tx.commit().await?;
    Ok(Json(row.view()))
}

/// `PUT /loyalty/v1/settings/level/{id}`: replaces a level's definition.
#[utoipa::path(put, path = "/loyalty/v1/settings/level/{id}", tag = "members", params(("id" = i64, Path)), request_body = LevelRequest, responses((status = 200, body = crate::routes::members::docs::Level)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    b: Result<ApiJson<LevelRequest>, crate::error::ApiError>,
) -> Answer {
    let req = body(b).await?;
    let (and, _) = req.validate()?;
    let mut tx = state.db.begin().await?;
    let before: Option<LevelRow> =
        sqlx::query_as(&format!("select {LEVEL_COLUMNS} from member_level where crm_id = $1 and id = $2 for update"))
            .bind(&tenant.crm_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let row: Option<LevelRow> = sqlx::query_as(&format!(
        "update member_level set name = $3, priority = $4, is_forever = $5, operator = $6, rules = $7, desp = $8,
                updated_at = now()
         where crm_id = $1 and id = $2 returning {LEVEL_COLUMNS}"
    ))
    .bind(&tenant.crm_id)
    .bind(id)
    .bind(&req.name)
    .bind(req.priority as i32)
    .bind(req.is_forever)
    .bind(if and { "and" } else { "or" })
    .bind(sqlx::types::Json(&req.rules))
    .bind(&req.desp)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(|| MemberError::NotFound(format!("level {id} not found")))?;
    mark_members(&mut tx, &tenant.crm_id).await?;
    let actor = audit::Actor::tenant(&tenant);
    let before = before.map(|b| b.view());
    audit::record(&mut tx, &actor, "member_level", &id.to_string(), "update", before, Some(row.view())).await?;
    tx.commit().await?;
    Ok(Json(row.view()))
}

/// `DELETE /loyalty/v1/settings/level/{id}`: its members hold no level until recomputed.
#[utoipa::path(delete, path = "/loyalty/v1/settings/level/{id}", tag = "members", params(("id" = i64, Path)), responses((status = 200, body = crate::routes::members::docs::Success)))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
) -> Answer {
    let mut tx = state.db.begin().await?;
    let deleted: Option<LevelRow> =
        sqlx::query_as(&format!("delete from member_level where crm_id = $1 and id = $2 returning {LEVEL_COLUMNS}"))
            .bind(&tenant.crm_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(deleted) = deleted else {
        return Err(MemberError::NotFound(format!("level {id} not found")));
    };
    mark_members(&mut tx, &tenant.crm_id).await?;
    let actor = audit::Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "member_level", &id.to_string(), "delete", Some(deleted.view()), None).await?;
    tx.commit().await?;
    Ok(Json(json!({"result": "success"})))
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    from_level: Option<i64>,
    to_level: Option<i64>,
    from_priority: Option<i32>,
    to_priority: Option<i32>,
    reason: String,
    created_at: DateTime<Utc>,
}

/// `GET /loyalty/v1/membership/{id}/level/changeLogs` (ours): the member's level changes,
/// paged like the seed's logs.
#[utoipa::path(get, path = "/loyalty/v1/membership/{id}/level/changeLogs", tag = "members", params(("id" = i64, Path), Paging), responses((status = 200, body = crate::routes::members::docs::LevelChangePage)))]
pub async fn change_log(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<Paging>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let page = super::queries::page_of(&q, super::queries::LOG_SIDX)?;
    let dir = if page.desc { "desc" } else { "asc" };
    let rows: Vec<ChangeRow> = sqlx::query_as(&format!(
        "select id, from_level, to_level, from_priority, to_priority, reason, created_at from member_level_change
         where crm_id = $1 and member_id = $2 order by id {dir} limit $3 offset $4"
    ))
    .bind(&tenant.crm_id)
    .bind(id)
    .bind(page.rows)
    .bind((page.page - 1) * page.rows)
    .fetch_all(&state.db)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id, "membershipId": id, "fromLevel": r.from_level, "toLevel": r.to_level,
                "fromPriority": r.from_priority, "toPriority": r.to_priority, "reason": r.reason,
                "dateCreated": format_datetime(r.created_at),
            })
        })
        .collect();
    let records = if page.need_total {
        Some(
            sqlx::query_scalar("select count(*) from member_level_change where crm_id = $1 and member_id = $2")
                .bind(&tenant.crm_id)
                .bind(id)
                .fetch_one(&state.db)
                .await?,
        )
    } else {
        None
    };
    Ok(Json(super::queries::paged(items, records, &page)))
}
