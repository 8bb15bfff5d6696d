//! Seed 004's point rules per member level: the management writes (save, delete) in the native
//! envelope, and the seed's query (`alibaba.alsc.crm.point.rule.get`) answering its own
//! `{"result": {biz_success, result_code, result_desc, result_view, result}}` shape, or
//! `{"error_response": {code, msg, sub_code, sub_msg}}` for bad input.
//!
//! The query: `brand_id` is the tenant's `crm_id` (or `out_brand_id` the one saved with the
//! rule); `shop_id` / `out_shop_id` pick the shop's rule, else the brand's; `level_id` keeps
//! that level's entries only. With both `include_logical_delete: true` and `max_update_time`
//! it is the incremental sync: every rule (deleted ones too) changed after `max_update_time`,
//! oldest change first, in `results` (`result` is the first). Rows are stamped to the
//! microsecond and the cursor is to the second, so a rule may come twice, never not at all.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use schemas::level_rules::{PointRuleGet, QueryPointRuleOpenReq, SaveLevelRule};
use schemas::time::{format_local, parse_local};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{
    audit::{self, Actor},
    auth::Tenant,
    error::{ApiError, ApiJson},
    routes::ok,
    AppState,
};

/// A `level_point_rule` row.
struct RuleRow {
    rule_id: i64,
    shop_id: Option<String>,
    out_brand_id: Option<String>,
    out_shop_id: Option<String>,
    name: String,
    point_addition_rule: Value,
    point_deduction_rule: Value,
    point_clear_rule: Value,
    ext_info: Option<Value>,
    deleted: bool,
    create_by: Option<String>,
    create_by_name: Option<String>,
    update_by: Option<String>,
    update_by_name: Option<String>,
    gmt_create: DateTime<Utc>,
    gmt_modified: DateTime<Utc>,
}

/// A rule as the seed answers it (`PointRuleOpenInfo`), plus the shop it is for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointRuleOpenInfo {
    pub rule_id: String,
    pub name: String,
    pub deleted: bool,
    /// `YYYY-MM-DD HH:MM:SS` in the tenant's zone.
    pub gmt_create: String,
    pub gmt_modified: String,
    pub create_by: Option<String>,
    pub create_by_name: Option<String>,
    pub update_by: Option<String>,
    pub update_by_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub ext_info: Option<Value>,
    #[schema(value_type = Object)]
    pub point_addition_rule: Value,
    #[schema(value_type = Object)]
    pub point_deduction_rule: Value,
    #[schema(value_type = Object)]
    pub point_clear_rule: Value,
    /// Ours: the shop (store code) the rule is for; null: the brand's.
    pub shop_id: Option<String>,
    pub out_brand_id: Option<String>,
    pub out_shop_id: Option<String>,
}

impl RuleRow {
    /// The seed's shape; `level`: only that level's entries.
    fn info(&self, tz: Tz, level: Option<&str>) -> PointRuleOpenInfo {
        let keep = |block: &Value, list: &str| -> Value {
            let mut block = block.clone();
            if let (Some(level), Some(items)) = (level, block.get_mut(list).and_then(Value::as_array_mut)) {
                items.retain(|r| r["level_id"].as_str() == Some(level));
            }
            block
        };
        PointRuleOpenInfo {
            rule_id: self.rule_id.to_string(),
            name: self.name.clone(),
            deleted: self.deleted,
            gmt_create: format_local(self.gmt_create, tz),
            gmt_modified: format_local(self.gmt_modified, tz),
            create_by: self.create_by.clone(),
            create_by_name: self.create_by_name.clone(),
            update_by: self.update_by.clone(),
            update_by_name: self.update_by_name.clone(),
            ext_info: self.ext_info.clone(),
            point_addition_rule: keep(&self.point_addition_rule, "member_point_addition_rules"),
            point_deduction_rule: keep(&self.point_deduction_rule, "member_point_deduction_rules"),
            point_clear_rule: self.point_clear_rule.clone(),
            shop_id: self.shop_id.clone(),
            out_brand_id: self.out_brand_id.clone(),
            out_shop_id: self.out_shop_id.clone(),
        }
    }
}

/// Marks the tenant's rules changed (inside the writing transaction).
async fn bump_version(tx: &mut sqlx::PgConnection, crm_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update tenant set rules_version = rules_version + 1, updated_at = now() where crm_id = $1", crm_id)
        .execute(tx)
        .await?;
    Ok(())
}

async fn refresh_cache(state: &AppState, crm_id: &str) {
    if let Err(e) = state.rules.refresh(&state.db, crm_id).await {
        tracing::warn!(error = %e, crm_id, "rule cache refresh failed");
    }
}

/// Saves the brand's rule (no `shop_id`) or a shop's: a new one, or it replaces the live one of
/// the same brand or shop (which keeps its `rule_id` and `gmt_create`).
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/level_rules/save", request_body = SaveLevelRule, tag = "level rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = PointRuleOpenInfo)))]
pub async fn save(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<SaveLevelRule>,
) -> Result<Json<schemas::ApiResponse<PointRuleOpenInfo>>, ApiError> {
    body.validate()?;
    let block = |v: Option<Value>| v.unwrap_or(Value::Null);
    let (add, ded, clear) = (
        block(audit::json(&body.point_addition_rule)),
        block(audit::json(&body.point_deduction_rule)),
        block(audit::json(&body.point_clear_rule)),
    );
    let mut tx = state.db.begin().await?;
    let live = sqlx::query_as!(
        RuleRow,
        "select rule_id, shop_id, out_brand_id, out_shop_id, name, point_addition_rule, point_deduction_rule,
                point_clear_rule, ext_info, deleted, create_by, create_by_name, update_by, update_by_name, gmt_create, gmt_modified
         from level_point_rule where crm_id = $1 and coalesce(shop_id, '') = coalesce($2, '') and not deleted for update",
        crm_id,
        body.shop_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let before = live.as_ref().map(|r| r.info(tenant.tz, None));
    let rule_id = match &live {
        Some(r) => {
            sqlx::query!(
                "update level_point_rule set name = $2, out_brand_id = $3, out_shop_id = $4, point_addition_rule = $5,
                        point_deduction_rule = $6, point_clear_rule = $7, ext_info = $8, update_by = $9,
                        update_by_name = $10, gmt_modified = now()
                 where crm_id = $11 and rule_id = $1",
                r.rule_id,
                body.name,
                body.out_brand_id,
                body.out_shop_id,
                add,
                ded,
                clear,
                body.ext_info,
                body.operator,
                body.operator_name,
                crm_id,
            )
            .execute(&mut *tx)
            .await?;
            r.rule_id
        }
        None => {
            sqlx::query_scalar!(
                "insert into level_point_rule (crm_id, shop_id, out_brand_id, out_shop_id, name, point_addition_rule,
                        point_deduction_rule, point_clear_rule, ext_info, create_by, create_by_name, update_by, update_by_name)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11) returning rule_id",
                crm_id,
                body.shop_id,
                body.out_brand_id,
                body.out_shop_id,
                body.name,
                add,
                ded,
                clear,
                body.ext_info,
                body.operator,
                body.operator_name,
            )
            .fetch_one(&mut *tx)
            .await?
        }
    };
    let row = one(&mut tx, &crm_id, rule_id).await?;
    let after = row.info(tenant.tz, None);
    bump_version(&mut tx, &crm_id).await?;
    let action = if before.is_some() { "update" } else { "create" };
    let before = before.as_ref().and_then(audit::json);
    audit::record(
        &mut tx,
        &Actor::tenant(&tenant),
        "level_point_rule",
        &rule_id.to_string(),
        action,
        before,
        audit::json(&after),
    )
    .await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("OK", after))
}

async fn one(tx: &mut sqlx::PgConnection, crm_id: &str, rule_id: i64) -> sqlx::Result<RuleRow> {
    sqlx::query_as!(
        RuleRow,
        "select rule_id, shop_id, out_brand_id, out_shop_id, name, point_addition_rule, point_deduction_rule,
                point_clear_rule, ext_info, deleted, create_by, create_by_name, update_by, update_by_name, gmt_create, gmt_modified
         from level_point_rule where crm_id = $1 and rule_id = $2",
        crm_id,
        rule_id,
    )
    .fetch_one(&mut *tx)
    .await
}

/// `{"rule_id": "…"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteLevelRule {
    pub rule_id: String,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub operator_name: Option<String>,
}

/// Deletes a rule logically (`deleted: true`): earning and spending stop following it at once;
/// the incremental sync returns it.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/level_rules/delete", request_body = DeleteLevelRule, tag = "level rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = PointRuleOpenInfo), (status = 404, description = "no such live rule")))]
pub async fn delete(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<DeleteLevelRule>,
) -> Result<Json<schemas::ApiResponse<PointRuleOpenInfo>>, ApiError> {
    let rule_id: i64 = body
        .rule_id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("rule_id", "must be a rule id (digits)"))?;
    for (f, v) in [("operator", &body.operator), ("operator_name", &body.operator_name)] {
        if let Some(v) = v {
            schemas::checks::check_len(f, v, 64)?;
        }
    }
    let mut tx = state.db.begin().await?;
    let done = sqlx::query_scalar!(
        "update level_point_rule set deleted = true, gmt_modified = now(), update_by = coalesce($3, update_by),
                update_by_name = coalesce($4, update_by_name)
         where crm_id = $1 and rule_id = $2 and not deleted returning rule_id",
        crm_id,
        rule_id,
        body.operator,
        body.operator_name,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no live level rule {rule_id} in crm_id {crm_id}")))?;
    let row = one(&mut tx, &crm_id, done).await?;
    let info = row.info(tenant.tz, None);
    bump_version(&mut tx, &crm_id).await?;
    audit::record(
        &mut tx,
        &Actor::tenant(&tenant),
        "level_point_rule",
        &rule_id.to_string(),
        "delete",
        audit::json(&info),
        None,
    )
    .await?;
    tx.commit().await?;
    refresh_cache(&state, &crm_id).await;
    Ok(ok("OK", info))
}

/// The seed's `CommonResult`, and ours: `results` (the incremental sync's every changed rule).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommonResult {
    pub biz_success: bool,
    pub result_code: String,
    pub result_desc: String,
    pub result_view: String,
    pub result: Option<PointRuleOpenInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<PointRuleOpenInfo>>,
}

/// `{"result": CommonResult}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointRuleGetResponse {
    pub result: CommonResult,
}

/// The seed's `error_response`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub code: i64,
    pub msg: String,
    pub sub_code: String,
    pub sub_msg: String,
}

/// Bad input, answered as the seed's `{"error_response": …}` with HTTP 400.
pub struct AlscError(ErrorResponse);

impl AlscError {
    fn invalid(field: &str, why: &str) -> AlscError {
        AlscError(ErrorResponse {
            code: 40,
            msg: "Missing or invalid arguments".into(),
            sub_code: "isv.invalid-parameter".into(),
            sub_msg: format!("{field}: {why}"),
        })
    }
}

impl IntoResponse for AlscError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error_response": self.0 }))).into_response()
    }
}

/// Internal failures keep the native answer (a 5xx with the envelope); the client's faults are
/// the seed's `error_response`.
pub enum QueryError {
    Alsc(AlscError),
    Api(ApiError),
}

impl From<ApiError> for QueryError {
    fn from(e: ApiError) -> QueryError {
        match e {
            ApiError::Invalid { field, msg } => QueryError::Alsc(AlscError::invalid(&field, &msg)),
            ApiError::BadRequest { msg, .. } => QueryError::Alsc(AlscError::invalid("body", &msg)),
            other => QueryError::Api(other),
        }
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(e: sqlx::Error) -> QueryError {
        QueryError::Api(e.into())
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        match self {
            QueryError::Alsc(e) => e.into_response(),
            QueryError::Api(e) => e.into_response(),
        }
    }
}

fn found(result: Option<PointRuleOpenInfo>, results: Option<Vec<PointRuleOpenInfo>>) -> Json<PointRuleGetResponse> {
    let missing = result.is_none() && results.is_none();
    Json(PointRuleGetResponse {
        result: CommonResult {
            biz_success: !missing,
            result_code: if missing { "404".into() } else { "200".into() },
            result_desc: if missing { "没有积分规则".into() } else { "成功".into() },
            result_view: String::new(),
            result,
            results,
        },
    })
}

/// The seed's query (`alibaba.alsc.crm.point.rule.get`): body `{"param_query_point_rule_open_req": {…}}`.
#[utoipa::path(post, path = "/api/crm/mgr/points/{crm_id}/level_rules/get", request_body = PointRuleGet, tag = "level rules",
    params(("crm_id" = String, Path)), responses((status = 200, body = PointRuleGetResponse), (status = 400, body = ErrorResponse, description = "the seed's error_response")))]
pub async fn get(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    body: Result<ApiJson<PointRuleGet>, ApiError>,
) -> Result<Json<PointRuleGetResponse>, QueryError> {
    let ApiJson(body) = body?;
    let q: QueryPointRuleOpenReq = body.param_query_point_rule_open_req.unwrap_or_default();
    q.validate().map_err(|e| QueryError::Alsc(AlscError::invalid(&e.field, &e.message)))?;
    if let Some(b) = &q.brand_id {
        if *b != crm_id {
            return Err(QueryError::Alsc(AlscError::invalid("brand_id", "is not this tenant's brand (its crm_id)")));
        }
    }
    let since =
        match &q.max_update_time {
            Some(t) => Some(parse_local(t, tenant.tz).ok_or_else(|| {
                QueryError::Alsc(AlscError::invalid("max_update_time", "must be YYYY-MM-DD HH:MM:SS"))
            })?),
            None => None,
        };
    let level = q.level_id.as_deref();
    let rows = sqlx::query_as!(
        RuleRow,
        "select rule_id, shop_id, out_brand_id, out_shop_id, name, point_addition_rule, point_deduction_rule,
                point_clear_rule, ext_info, deleted, create_by, create_by_name, update_by, update_by_name, gmt_create, gmt_modified
         from level_point_rule
         where crm_id = $1 and ($2::text is null or out_brand_id = $2)
         order by gmt_modified, rule_id",
        crm_id,
        q.out_brand_id,
    )
    .fetch_all(&state.db)
    .await?;
    let shop_matches = |r: &RuleRow| {
        q.shop_id.as_ref().is_none_or(|s| r.shop_id.as_ref() == Some(s))
            && q.out_shop_id.as_ref().is_none_or(|s| r.out_shop_id.as_ref() == Some(s))
    };
    if let (Some(true), Some(since)) = (q.include_logical_delete, since) {
        // The incremental sync: every rule changed after the cursor, deleted ones too.
        let changed: Vec<PointRuleOpenInfo> = rows
            .iter()
            .filter(|r| r.gmt_modified > since)
            .filter(|r| (q.shop_id.is_none() && q.out_shop_id.is_none()) || shop_matches(r))
            .take(100)
            .map(|r| r.info(tenant.tz, level))
            .collect();
        return Ok(found(changed.first().cloned(), Some(changed)));
    }
    // The rule that applies: the shop's live rule, else the brand's.
    let live = |r: &&RuleRow| !r.deleted;
    let shop_asked = q.shop_id.is_some() || q.out_shop_id.is_some();
    let rule = rows
        .iter()
        .filter(live)
        .find(|r| shop_asked && shop_matches(r))
        .or_else(|| rows.iter().filter(live).find(|r| r.shop_id.is_none()));
    Ok(found(rule.map(|r| r.info(tenant.tz, level)), None))
}
