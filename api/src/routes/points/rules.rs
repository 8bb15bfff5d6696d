//! Rule management (seed 000): earn and spend rules, their deletion and query, the scene list.
//! Written to PostgreSQL, then pushed to the Redis cache.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use schemas::checks::paging;
use schemas::points::{
    ConsumeRule, ConsumeTier, CreateConsumeRule, CreateProduceRule, DeleteRules, PointsType, ProduceRule, QueryRules,
    RuleType, UpdateConsumeRule, UpdateProduceRule, BUILTIN_CONSUME_SCENES, BUILTIN_PRODUCE_SCENES,
};
use serde::Serialize;
use sqlx::{types::Json, PgConnection, Row};

use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson},
    routes::ok,
    AppState,
};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleSaved {
    pub rule_id: i64,
}

/// Marks the tenant's rules changed (inside the writing transaction).
async fn bump_version(tx: &mut PgConnection, crm_id: &str) -> sqlx::Result<()> {
    sqlx::query("update tenant set rules_version = rules_version + 1, updated_at = now() where crm_id = $1")
        .bind(crm_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// After the commit: the cache gets the new set (a failure only costs a reload later).
async fn refresh_cache(state: &AppState, crm_id: &str) {
    if let Err(e) = state.rules.refresh(&state.db, crm_id).await {
        tracing::warn!(error = %e, crm_id, "rule cache refresh failed");
    }
}

/// Saves an earn rule.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/produce_scene", request_body = CreateProduceRule, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RuleSaved), (status = 422, description = "a field is invalid")))]
pub async fn create_produce(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<CreateProduceRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let rule = body.into_rule()?;
    let mut tx = state.db.begin().await?;
    let rule_id: i64 = sqlx::query_scalar(
        "insert into produce_rule (crm_id, rule_name, action_scene, points_type, per_money, change_points, expire_term,
                                   freeze_term, max_points, max_times, range_days, mul_rules)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning rule_id",
    )
    .bind(&crm_id)
    .bind(&rule.rule_name)
    .bind(&rule.action_scene)
    .bind(rule.points_type.as_str())
    .bind(rule.per_money)
    .bind(rule.change_points)
    .bind(rule.expire_term as i32)
    .bind(rule.freeze_term as i32)
    .bind(rule.max_points)
    .bind(rule.max_times)
    .bind(rule.range_days as i32)
    .bind(rule.mul_rules)
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("保存积分累加规则成功", RuleSaved { rule_id }))
}

/// An earn or a spend rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AnyRule {
    Produce(ProduceRule),
    Consume(ConsumeRule),
}

/// Stored rule with its times, as the query answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleItem {
    #[serde(flatten)]
    pub rule: AnyRule,
    pub rule_type: RuleType,
    pub create_time: String,
    pub update_time: String,
}

fn rule_from_row(row: &sqlx::postgres::PgRow) -> sqlx::Result<ProduceRule> {
    let points_type: String = row.try_get("points_type")?;
    Ok(ProduceRule {
        rule_id: row.try_get("rule_id")?,
        rule_name: row.try_get("rule_name")?,
        action_scene: row.try_get("action_scene")?,
        points_type: PointsType::parse(&points_type).unwrap_or(PointsType::Event),
        expire_term: row.try_get::<i32, _>("expire_term")?.into(),
        per_money: row.try_get("per_money")?,
        change_points: row.try_get("change_points")?,
        freeze_term: row.try_get::<i32, _>("freeze_term")?.into(),
        max_points: row.try_get("max_points")?,
        max_times: row.try_get("max_times")?,
        range_days: row.try_get::<i32, _>("range_days")?.into(),
        mul_rules: row.try_get("mul_rules")?,
    })
}

const RULE_COLUMNS: &str =
    "rule_id, rule_name, action_scene, points_type, per_money, change_points, expire_term, freeze_term,
                            max_points, max_times, range_days, mul_rules, created_at, updated_at";

/// Changes an earn rule: the fields sent replace the stored ones, then the whole rule is checked.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/produce_scene/update", request_body = UpdateProduceRule, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RuleSaved), (status = 404, description = "no such rule")))]
pub async fn update_produce(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<UpdateProduceRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let row = sqlx::query(&format!(
        "select {RULE_COLUMNS} from produce_rule where crm_id = $1 and rule_id = $2 and deleted_at is null for update"
    ))
    .bind(&crm_id)
    .bind(body.rule_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no produce rule {} in crm_id {crm_id}", body.rule_id)))?;
    let rule_id = body.rule_id;
    let rule = body.merge_into(rule_from_row(&row)?)?;
    sqlx::query(
        "update produce_rule set rule_name = $3, action_scene = $4, points_type = $5, per_money = $6, change_points = $7,
                expire_term = $8, freeze_term = $9, max_points = $10, max_times = $11, range_days = $12, mul_rules = $13,
                updated_at = now()
         where crm_id = $1 and rule_id = $2",
    )
    .bind(&crm_id)
    .bind(rule_id)
    .bind(&rule.rule_name)
    .bind(&rule.action_scene)
    .bind(rule.points_type.as_str())
    .bind(rule.per_money)
    .bind(rule.change_points)
    .bind(rule.expire_term as i32)
    .bind(rule.freeze_term as i32)
    .bind(rule.max_points)
    .bind(rule.max_times)
    .bind(rule.range_days as i32)
    .bind(rule.mul_rules)
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("修改积分累加规则成功", RuleSaved { rule_id }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulesDeleted {
    pub deleted: Vec<i64>,
    /// Ids that name no live rule of this tenant and type.
    pub not_found: Vec<i64>,
}

/// Deletes rules (softly: history keeps naming them; events stop earning under them at once).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/lot_delete", request_body = DeleteRules, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RulesDeleted)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<DeleteRules>,
) -> Result<axum::Json<schemas::ApiResponse<RulesDeleted>>, ApiError> {
    let ids = body.ids()?;
    let table = match body.rule_type {
        RuleType::Produce => "produce_rule",
        RuleType::Consume => "consume_rule",
    };
    let mut tx = state.db.begin().await?;
    let deleted: Vec<i64> = sqlx::query_scalar(&format!(
        "update {table} set deleted_at = now(), updated_at = now()
         where crm_id = $1 and rule_id = any($2) and deleted_at is null returning rule_id"
    ))
    .bind(&crm_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    let not_found = ids.iter().copied().filter(|id| !deleted.contains(id)).collect();
    Ok(ok("删除积分规则成功", RulesDeleted { deleted, not_found }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RulePage {
    pub total: i64,
    pub items: Vec<RuleItem>,
}

/// Finds rules by type, scene, name (substring) or id; newest first, paged.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/query", request_body = QueryRules, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RulePage)))]
pub async fn query(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<QueryRules>,
) -> Result<axum::Json<schemas::ApiResponse<RulePage>>, ApiError> {
    let (page, size) = paging(body.page_id, body.page_size, 10, 100)?;
    let (table, columns) = match body.rule_type {
        RuleType::Produce => ("produce_rule", RULE_COLUMNS),
        RuleType::Consume => ("consume_rule", "rule_id, rule_name, action_scene, rules_li, created_at, updated_at"),
    };
    let filter = "from {table} where crm_id = $1 and deleted_at is null
                  and ($2::text is null or action_scene = $2)
                  and ($3::text is null or strpos(rule_name, $3) > 0)
                  and ($4::bigint is null or rule_id = $4)"
        .replace("{table}", table);
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(&crm_id)
        .bind(&body.action_scene)
        .bind(&body.rule_name)
        .bind(body.rule_id)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query(&format!("select {columns} {filter} order by rule_id desc limit $5 offset $6"))
        .bind(&crm_id)
        .bind(&body.action_scene)
        .bind(&body.rule_name)
        .bind(body.rule_id)
        .bind(size)
        .bind((page - 1) * size)
        .fetch_all(&state.db)
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            let rule = match body.rule_type {
                RuleType::Produce => AnyRule::Produce(rule_from_row(row)?),
                RuleType::Consume => AnyRule::Consume(ConsumeRule {
                    rule_id: row.try_get("rule_id")?,
                    rule_name: row.try_get("rule_name")?,
                    action_scene: row.try_get("action_scene")?,
                    rules_li: row.try_get::<sqlx::types::Json<Vec<ConsumeTier>>, _>("rules_li")?.0,
                }),
            };
            Ok(RuleItem {
                rule,
                rule_type: body.rule_type,
                create_time: schemas::time::format_local(row.try_get::<DateTime<Utc>, _>("created_at")?, tenant.tz),
                update_time: schemas::time::format_local(row.try_get::<DateTime<Utc>, _>("updated_at")?, tenant.tz),
            })
        })
        .collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("OK", RulePage { total, items }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Scene {
    pub name: String,
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SceneInfo {
    pub produce_scene: Vec<Scene>,
    pub consume_scene: Vec<Scene>,
}

/// The built-in scenes and the tenant's own (a scene is the tenant's own once a rule names it).
#[utoipa::path(get, path = "/api/crm/mgr/points/{crm_id}/scene_info", tag = "rules", params(("crm_id" = String, Path)), responses((status = 200, body = SceneInfo)))]
pub async fn scene_info(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
) -> Result<axum::Json<schemas::ApiResponse<SceneInfo>>, ApiError> {
    let builtin = |list: &[(&str, &str)]| {
        list.iter().map(|(code, name)| Scene { name: name.to_string(), code: code.to_string() }).collect::<Vec<_>>()
    };
    let mut produce_scene = builtin(BUILTIN_PRODUCE_SCENES);
    let own: Vec<(String, String)> = sqlx::query_as(
        "select distinct on (action_scene) action_scene, rule_name from produce_rule
         where crm_id = $1 and deleted_at is null order by action_scene, rule_id",
    )
    .bind(&crm_id)
    .fetch_all(&state.db)
    .await?;
    for (code, name) in own {
        if !produce_scene.iter().any(|s| s.code == code) {
            produce_scene.push(Scene { name, code });
        }
    }
    Ok(ok("OK", SceneInfo { produce_scene, consume_scene: builtin(BUILTIN_CONSUME_SCENES) }))
}

/// Saves a spend rule (tiers in `rules_li`).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/consume_scene", request_body = CreateConsumeRule, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RuleSaved), (status = 422, description = "a field is invalid")))]
pub async fn create_consume(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<CreateConsumeRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let rule = body.into_rule()?;
    let mut tx = state.db.begin().await?;
    let rule_id: i64 = sqlx::query_scalar(
        "insert into consume_rule (crm_id, rule_name, action_scene, rules_li) values ($1, $2, $3, $4) returning rule_id",
    )
    .bind(&crm_id)
    .bind(&rule.rule_name)
    .bind(&rule.action_scene)
    .bind(Json(&rule.rules_li))
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("保存积分消耗规则成功", RuleSaved { rule_id }))
}

/// Changes a spend rule.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/consume_scene/update", request_body = UpdateConsumeRule, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RuleSaved), (status = 404, description = "no such rule")))]
pub async fn update_consume(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<UpdateConsumeRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let row: Option<(i64, String, String, Json<Vec<ConsumeTier>>)> = sqlx::query_as(
        "select rule_id, rule_name, action_scene, rules_li from consume_rule
         where crm_id = $1 and rule_id = $2 and deleted_at is null for update",
    )
    .bind(&crm_id)
    .bind(body.rule_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (rule_id, rule_name, action_scene, tiers) =
        row.ok_or_else(|| ApiError::NotFound(format!("no consume rule {} in crm_id {crm_id}", body.rule_id)))?;
    let rule = body.merge_into(ConsumeRule { rule_id, rule_name, action_scene, rules_li: tiers.0 })?;
    sqlx::query(
        "update consume_rule set rule_name = $3, action_scene = $4, rules_li = $5, updated_at = now()
         where crm_id = $1 and rule_id = $2",
    )
    .bind(&crm_id)
    .bind(rule_id)
    .bind(&rule.rule_name)
    .bind(&rule.action_scene)
    .bind(Json(&rule.rules_li))
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("修改积分消耗规则成功", RuleSaved { rule_id }))
}
