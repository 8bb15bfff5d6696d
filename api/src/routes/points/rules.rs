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
use sqlx::{types::Json, PgConnection};

use crate::{
    audit::{self, Actor},
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
    sqlx::query!("update tenant set rules_version = rules_version + 1, updated_at = now() where crm_id = $1", crm_id)
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
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<CreateProduceRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let rule = body.into_rule()?;
    let mut tx = state.db.begin().await?;
    let rule_id = sqlx::query_scalar!(
        "insert into produce_rule (crm_id, rule_name, action_scene, points_type, per_money, change_points, expire_term,
                                   freeze_term, max_points, max_times, range_days, mul_rules)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning rule_id",
        crm_id,
        rule.rule_name,
        rule.action_scene,
        rule.points_type.as_str(),
        rule.per_money,
        rule.change_points,
        rule.expire_term as i32,
        rule.freeze_term as i32,
        rule.max_points,
        rule.max_times,
        rule.range_days as i32,
        rule.mul_rules,
    )
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    let actor = Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "produce_rule", &rule_id.to_string(), "create", None, audit::json(&rule)).await?;
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

/// A `produce_rule` row as the database types it.
struct ProduceRow {
    rule_id: i64,
    rule_name: String,
    action_scene: String,
    points_type: String,
    per_money: Option<i64>,
    change_points: i64,
    expire_term: i32,
    freeze_term: i32,
    max_points: Option<i64>,
    max_times: Option<i64>,
    range_days: i32,
    mul_rules: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProduceRow {
    fn rule(&self) -> ProduceRule {
        ProduceRule {
            rule_id: self.rule_id,
            rule_name: self.rule_name.clone(),
            action_scene: self.action_scene.clone(),
            points_type: PointsType::parse(&self.points_type).unwrap_or(PointsType::Event),
            expire_term: self.expire_term.into(),
            per_money: self.per_money,
            change_points: self.change_points,
            freeze_term: self.freeze_term.into(),
            max_points: self.max_points,
            max_times: self.max_times,
            range_days: self.range_days.into(),
            mul_rules: self.mul_rules,
        }
    }
}

/// A `consume_rule` row as the database types it.
struct ConsumeRow {
    rule_id: i64,
    rule_name: String,
    action_scene: String,
    rules_li: Json<Vec<ConsumeTier>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ConsumeRow {
    fn rule(self) -> ConsumeRule {
        ConsumeRule {
            rule_id: self.rule_id,
            rule_name: self.rule_name,
            action_scene: self.action_scene,
            rules_li: self.rules_li.0,
        }
    }
}

/// Changes an earn rule: the fields sent replace the stored ones, then the whole rule is checked.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/rules/produce_scene/update", request_body = UpdateProduceRule, tag = "rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = RuleSaved), (status = 404, description = "no such rule")))]
pub async fn update_produce(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<UpdateProduceRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let row = sqlx::query_as!(
        ProduceRow,
        "select rule_id, rule_name, action_scene, points_type, per_money, change_points, expire_term, freeze_term,
                max_points, max_times, range_days, mul_rules, created_at, updated_at
         from produce_rule where crm_id = $1 and rule_id = $2 and deleted_at is null for update",
        crm_id,
        body.rule_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no produce rule {} in crm_id {crm_id}", body.rule_id)))?;
    let rule_id = body.rule_id;
    let before = row.rule();
    let rule = body.merge_into(before.clone())?;
    sqlx::query!(
        "update produce_rule set rule_name = $3, action_scene = $4, points_type = $5, per_money = $6, change_points = $7,
                expire_term = $8, freeze_term = $9, max_points = $10, max_times = $11, range_days = $12, mul_rules = $13,
                updated_at = now()
         where crm_id = $1 and rule_id = $2",
        crm_id,
        rule_id,
        rule.rule_name,
        rule.action_scene,
        rule.points_type.as_str(),
        rule.per_money,
        rule.change_points,
        rule.expire_term as i32,
        rule.freeze_term as i32,
        rule.max_points,
        rule.max_times,
        rule.range_days as i32,
        rule.mul_rules,
    )
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    let (before, after) = (audit::json(&before), audit::json(&rule));
    audit::record(&mut tx, &Actor::tenant(&tenant), "produce_rule", &rule_id.to_string(), "update", before, after)
        .await?;
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
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<DeleteRules>,
) -> Result<axum::Json<schemas::ApiResponse<RulesDeleted>>, ApiError> {
    let ids = body.ids()?;
    let mut tx = state.db.begin().await?;
    let deleted = match body.rule_type {
        RuleType::Produce => {
            sqlx::query_scalar!(
                "update produce_rule set deleted_at = now(), updated_at = now()
                 where crm_id = $1 and rule_id = any($2) and deleted_at is null returning rule_id",
                crm_id,
                &ids,
            )
            .fetch_all(&mut *tx)
            .await?
        }
        RuleType::Consume => {
            sqlx::query_scalar!(
                "update consume_rule set deleted_at = now(), updated_at = now()
                 where crm_id = $1 and rule_id = any($2) and deleted_at is null returning rule_id",
                crm_id,
                &ids,
            )
            .fetch_all(&mut *tx)
            .await?
        }
    };
    bump_version(&mut tx, &crm_id).await?;
    let entity = match body.rule_type {
        RuleType::Produce => "produce_rule",
        RuleType::Consume => "consume_rule",
    };
    for id in &deleted {
        let after = serde_json::json!({"deleted": true});
        audit::record(&mut tx, &Actor::tenant(&tenant), entity, &id.to_string(), "delete", None, Some(after)).await?;
    }
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
    let scene = &body.action_scene;
    let name = &body.rule_name;
    let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
    let item = |rule, created_at, updated_at| RuleItem {
        rule,
        rule_type: body.rule_type,
        create_time: local(created_at),
        update_time: local(updated_at),
    };
    // One statement per table: a compile-checked query names its table in its text.
    let (total, items) = match body.rule_type {
        RuleType::Produce => {
            let total = sqlx::query_scalar!(
                r#"select count(*) as "total!" from produce_rule where crm_id = $1 and deleted_at is null
                     and ($2::text is null or action_scene = $2) and ($3::text is null or strpos(rule_name, $3) > 0)
                     and ($4::bigint is null or rule_id = $4)"#,
                crm_id,
                scene.as_deref(),
                name.as_deref(),
                body.rule_id,
            )
            .fetch_one(&state.db)
            .await?;
            let rows = sqlx::query_as!(
                ProduceRow,
                "select rule_id, rule_name, action_scene, points_type, per_money, change_points, expire_term, freeze_term,
                        max_points, max_times, range_days, mul_rules, created_at, updated_at
                 from produce_rule where crm_id = $1 and deleted_at is null
                   and ($2::text is null or action_scene = $2) and ($3::text is null or strpos(rule_name, $3) > 0)
                   and ($4::bigint is null or rule_id = $4)
                 order by rule_id desc limit $5 offset $6",
                crm_id,
                scene.as_deref(),
                name.as_deref(),
                body.rule_id,
                size,
                (page - 1) * size,
            )
            .fetch_all(&state.db)
            .await?;
            (total, rows.into_iter().map(|r| item(AnyRule::Produce(r.rule()), r.created_at, r.updated_at)).collect())
        }
        RuleType::Consume => {
            let total = sqlx::query_scalar!(
                r#"select count(*) as "total!" from consume_rule where crm_id = $1 and deleted_at is null
                     and ($2::text is null or action_scene = $2) and ($3::text is null or strpos(rule_name, $3) > 0)
                     and ($4::bigint is null or rule_id = $4)"#,
                crm_id,
                scene.as_deref(),
                name.as_deref(),
                body.rule_id,
            )
            .fetch_one(&state.db)
            .await?;
            let rows = sqlx::query_as!(
                ConsumeRow,
                r#"select rule_id, rule_name, action_scene, rules_li as "rules_li: Json<Vec<ConsumeTier>>", created_at, updated_at
                   from consume_rule where crm_id = $1 and deleted_at is null
                     and ($2::text is null or action_scene = $2) and ($3::text is null or strpos(rule_name, $3) > 0)
                     and ($4::bigint is null or rule_id = $4)
                   order by rule_id desc limit $5 offset $6"#,
                crm_id,
                scene.as_deref(),
                name.as_deref(),
                body.rule_id,
                size,
                (page - 1) * size,
            )
            .fetch_all(&state.db)
            .await?;
            (
                total,
                rows.into_iter()
                    .map(|r| {
                        let (created_at, updated_at) = (r.created_at, r.updated_at);
                        item(AnyRule::Consume(r.rule()), created_at, updated_at)
                    })
                    .collect(),
            )
        }
    };
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
    let own = sqlx::query!(
        "select distinct on (action_scene) action_scene, rule_name from produce_rule
         where crm_id = $1 and deleted_at is null order by action_scene, rule_id",
        crm_id,
    )
    .fetch_all(&state.db)
    .await?;
    for (code, name) in own.into_iter().map(|r| (r.action_scene, r.rule_name)) {
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
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<CreateConsumeRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let rule = body.into_rule()?;
    let mut tx = state.db.begin().await?;
    let rule_id = sqlx::query_scalar!(
        "insert into consume_rule (crm_id, rule_name, action_scene, rules_li) values ($1, $2, $3, $4) returning rule_id",
        crm_id,
        rule.rule_name,
        rule.action_scene,
        Json(&rule.rules_li) as _,
    )
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    let actor = Actor::tenant(&tenant);
    audit::record(&mut tx, &actor, "consume_rule", &rule_id.to_string(), "create", None, audit::json(&rule)).await?;
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
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<UpdateConsumeRule>,
) -> Result<axum::Json<schemas::ApiResponse<RuleSaved>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let row = sqlx::query_as!(
        ConsumeRow,
        r#"select rule_id, rule_name, action_scene, rules_li as "rules_li: Json<Vec<ConsumeTier>>", created_at, updated_at
           from consume_rule where crm_id = $1 and rule_id = $2 and deleted_at is null for update"#,
        crm_id,
        body.rule_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no consume rule {} in crm_id {crm_id}", body.rule_id)))?;
    let rule_id = row.rule_id;
    let before = row.rule();
    let rule = body.merge_into(before.clone())?;
    sqlx::query!(
        "update consume_rule set rule_name = $3, action_scene = $4, rules_li = $5, updated_at = now()
         where crm_id = $1 and rule_id = $2",
        crm_id,
        rule_id,
        rule.rule_name,
        rule.action_scene,
        Json(&rule.rules_li) as _,
    )
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx, &crm_id).await?;
    let (before, after) = (audit::json(&before), audit::json(&rule));
    audit::record(&mut tx, &Actor::tenant(&tenant), "consume_rule", &rule_id.to_string(), "update", before, after)
        .await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("修改积分消耗规则成功", RuleSaved { rule_id }))
}
