//! Seed 001's points activities (积分活动) at the seed's ten paths under `/points-consumption/`,
//! answering in the seed's `{errcode, errmsg, data}` envelope.
//!
//! The tenant is the key's (`?access_token=` or `Authorization: Bearer`, as seed 002's paths
//! take it: these paths carry no `crm_id`); `shop_id` is a merchant inside the tenant and every
//! call is scoped to it. Writes are synchronous SQL that bump the tenant's `rules_version` and
//! refresh the rule cache, through which the earn worker sees the activities ([`schemas::activities`]).

pub mod commands;
pub mod queries;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use chrono::{DateTime, Utc};
use schemas::activities::{ActivityFields, News, ShareMessage, MAX_INT11};
use schemas::FieldError;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgConnection;

use crate::{error::ApiError, AppState};

/// The path prefix of seed 001's endpoints.
pub const PREFIX: &str = "/points-consumption";

/// The ten routes (the caller adds [`require_key`]).
pub fn router() -> Router<AppState> {
    let p = PREFIX;
    Router::new()
        .route(&format!("{p}/create"), post(commands::create))
        .route(&format!("{p}/get"), post(queries::get))
        .route(&format!("{p}/find-points-consumption-list"), post(queries::list))
        .route(&format!("{p}/to-update"), post(commands::update))
        .route(&format!("{p}/general-del"), post(commands::remove))
        .route(&format!("{p}/general-enable"), post(commands::enable))
        .route(&format!("{p}/general-disable"), post(commands::disable))
        .route(&format!("{p}/create-points-consumption-goods"), post(commands::create_goods))
        .route(&format!("{p}/find-points-consumption-goods-list"), post(queries::list_goods))
        .route(&format!("{p}/del-points-consumption-goods"), post(commands::remove_goods))
}

/// What the bodies' checks require, written into the OpenAPI document (every field is optional
/// to serde so that a missing one is named with its block; these are the ones the checks
/// require, with their ranges: `schemas::activities`).
pub fn constrain(doc: &mut Value) {
    let int = |min: i64| json!({ "type": "integer", "format": "int64", "minimum": min, "maximum": MAX_INT11 });
    /// (schema, its required fields, each constrained field with its schema)
    type Body<'a> = (&'a str, &'a [&'a str], Vec<(&'a str, Value)>);
    let bodies: [Body<'_>; 3] = [
        ("IdShop", &["id", "shop_id"], vec![("id", int(1)), ("shop_id", int(1))]),
        (
            "ListBody",
            &["shop_id"],
            vec![
                ("shop_id", int(1)),
                ("points_consumption_id", json!({ "type": ["integer", "null"], "minimum": 1, "maximum": MAX_INT11 })),
                ("page", json!({ "type": ["integer", "null"], "minimum": 0, "maximum": 1_000_000 })),
                ("count", json!({ "type": ["integer", "null"], "minimum": 1, "maximum": 100 })),
                (
                    "sortStr",
                    json!({ "anyOf": [{ "type": "null" }, { "type": "object", "additionalProperties": false,
                             "properties": { "id": { "enum": ["asc", "desc"] } } }] }),
                ),
            ],
        ),
        (
            "GoodsBody",
            &["points_consumption_id", "product_id", "shop_id", "product_sku_id", "shop_sub_id"],
            vec![
                ("points_consumption_id", int(1)),
                ("product_id", int(1)),
                ("shop_id", int(1)),
                ("product_sku_id", int(1)),
                ("shop_sub_id", int(0)),
            ],
        ),
    ];
    for (name, required, fields) in bodies {
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) else { continue };
        schema["required"] = json!(required);
        for (field, constraint) in fields {
            schema["properties"][field] = constraint;
        }
    }
}

/// The seed's error: `{errcode, errmsg, data}` with the native API's codes and statuses (a bad
/// field: HTTP 422, errcode 42200, `errmsg` and `data.field` naming it).
#[derive(Debug)]
pub struct ActivityError(pub ApiError);

impl<E: Into<ApiError>> From<E> for ActivityError {
    fn from(e: E) -> ActivityError {
        ActivityError(e.into())
    }
}

impl ActivityError {
    fn not_found(what: String) -> ActivityError {
        ActivityError(ApiError::NotFound(what))
    }
}

impl IntoResponse for ActivityError {
    fn into_response(self) -> Response {
        let (status, code) = self.0.parts();
        let (msg, data) = match &self.0 {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                ("internal error".to_string(), Value::Null)
            }
            ApiError::Invalid { field, msg } => (format!("{field}: {msg}"), json!({ "field": field })),
            ApiError::BadRequest { field: Some(field), msg } => (msg.clone(), json!({ "field": field })),
            other => (other.to_string(), Value::Null),
        };
        (status, axum::Json(json!({ "errcode": code, "errmsg": msg, "data": data }))).into_response()
    }
}

/// Field errors of the bodies are client errors naming the field.
pub(crate) fn field(e: FieldError) -> ActivityError {
    ActivityError(e.into())
}

/// `{"errcode":0,"errmsg":"ok","data":…}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Answer<T> {
    pub errcode: i32,
    pub errmsg: String,
    pub data: T,
}

pub(crate) fn ok<T: Serialize>(data: T) -> axum::Json<Answer<T>> {
    axum::Json(Answer { errcode: 0, errmsg: "ok".into(), data })
}

/// Requires a tenant's key as seed 002's paths take it (`?access_token=`, or Bearer); answers
/// in this domain's shape.
pub async fn require_key(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(key) = crate::auth::access_token(&req) else {
        return ActivityError(ApiError::Unauthorized(
            "send the tenant's API key as ?access_token= or `Authorization: Bearer <api_key>`".into(),
        ))
        .into_response();
    };
    match crate::auth::tenant_of_key(&state, &key).await {
        Ok(Some(tenant)) => {
            req.extensions_mut().insert(tenant);
            next.run(req).await
        }
        Ok(None) => ActivityError(ApiError::Unauthorized("the access_token is not valid".into())).into_response(),
        Err(e) => ActivityError(e).into_response(),
    }
}

/// The activity's points rule, as the seed answers it (`pointsConsumption`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsumptionView {
    pub id: i64,
    pub activity_id: i64,
    #[serde(rename = "type")]
    pub kind: i64,
    pub amount: i64,
    pub points: i64,
    pub shop_id: i64,
    pub shop_sub_id: i64,
}

/// An activity as the seed answers it. `deleted` is the seed's enable state: 1 enabled, 2 disabled.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    pub id: i64,
    /// Always 4 (the seed's type of points activities).
    pub activity_type: i64,
    pub relate_product_type: i64,
    pub postage_setting_id: i64,
    pub name: String,
    pub desc: Option<String>,
    pub sort: Option<i64>,
    pub expire_type: i64,
    pub start_time: i64,
    pub end_time: i64,
    #[schema(value_type = Option<i64>)]
    pub wx_qrcode_id: Option<i64>,
    pub wx_imagetxt_reply_id: i64,
    pub share_message_id: i64,
    pub shop_id: i64,
    pub shop_sub_id: i64,
    /// Unix seconds.
    pub created: i64,
    pub modified: i64,
    /// 1 enabled, 2 disabled.
    pub deleted: i64,
    pub share_type: i64,
    #[serde(rename = "pointsConsumption")]
    pub points_consumption: ConsumptionView,
    /// The `shareMessage` block, or `[]` when there is none (as the seed shows).
    #[serde(rename = "shareMessage")]
    pub share_message: Value,
    /// The `news` block, or `[]` when there is none.
    pub news: Value,
}

/// A `points_activity` row.
pub(crate) struct ActivityRow {
    pub id: i64,
    pub consumption_id: i64,
    pub shop_id: i64,
    pub shop_sub_id: i64,
    pub relate_product_type: i16,
    pub name: String,
    pub desc: Option<String>,
    pub sort: Option<i64>,
    pub expire_type: i16,
    pub start_time: i64,
    pub end_time: i64,
    pub kind: i16,
    pub amount: i64,
    pub points: i64,
    pub share_message: Option<Value>,
    pub news: Option<Value>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ActivityRow {
    pub(crate) fn fields(&self) -> ActivityFields {
        ActivityFields {
            relate_product_type: self.relate_product_type.into(),
            name: self.name.clone(),
            desc: self.desc.clone(),
            sort: self.sort,
            expire_type: self.expire_type.into(),
            start_time: self.start_time,
            end_time: self.end_time,
            shop_id: self.shop_id,
            shop_sub_id: self.shop_sub_id,
            kind: self.kind.into(),
            amount: self.amount,
            points: self.points,
            share_message: self.share_message.clone().and_then(|v| serde_json::from_value::<ShareMessage>(v).ok()),
            news: self.news.clone().and_then(|v| serde_json::from_value::<News>(v).ok()),
        }
    }

    pub(crate) fn consumption(&self) -> ConsumptionView {
        ConsumptionView {
            id: self.consumption_id,
            activity_id: self.id,
            kind: self.kind.into(),
            amount: self.amount,
            points: self.points,
            shop_id: self.shop_id,
            shop_sub_id: self.shop_sub_id,
        }
    }

    pub(crate) fn view(&self) -> ActivityView {
        ActivityView {
            id: self.id,
            activity_type: 4,
            relate_product_type: self.relate_product_type.into(),
            postage_setting_id: 0,
            name: self.name.clone(),
            desc: self.desc.clone(),
            sort: self.sort,
            expire_type: self.expire_type.into(),
            start_time: self.start_time,
            end_time: self.end_time,
            wx_qrcode_id: None,
            wx_imagetxt_reply_id: 0,
            share_message_id: 0,
            shop_id: self.shop_id,
            shop_sub_id: self.shop_sub_id,
            created: self.created_at.timestamp(),
            modified: self.updated_at.timestamp(),
            deleted: if self.enabled { 1 } else { 2 },
            share_type: 1,
            points_consumption: self.consumption(),
            share_message: self.share_message.clone().unwrap_or_else(|| json!([])),
            news: self.news.clone().unwrap_or_else(|| json!([])),
        }
    }
}

/// The tenant's live activity `id` of merchant `shop_id`, locked when `lock`.
pub(crate) async fn find(
    tx: &mut PgConnection,
    crm_id: &str,
    id: i64,
    shop_id: i64,
    lock: bool,
) -> Result<ActivityRow, ActivityError> {
    let row = if lock {
        sqlx::query_as!(
            ActivityRow,
            r#"select id, consumption_id, shop_id, shop_sub_id, relate_product_type, name, "desc", sort, expire_type,
                      start_time, end_time, type as kind, amount, points, share_message, news, enabled, created_at, updated_at
               from points_activity where crm_id = $1 and id = $2 and shop_id = $3 and removed_at is null for update"#,
            crm_id,
            id,
            shop_id,
        )
        .fetch_optional(&mut *tx)
        .await?
    } else {
        sqlx::query_as!(
            ActivityRow,
            r#"select id, consumption_id, shop_id, shop_sub_id, relate_product_type, name, "desc", sort, expire_type,
                      start_time, end_time, type as kind, amount, points, share_message, news, enabled, created_at, updated_at
               from points_activity where crm_id = $1 and id = $2 and shop_id = $3 and removed_at is null"#,
            crm_id,
            id,
            shop_id,
        )
        .fetch_optional(&mut *tx)
        .await?
    };
    row.ok_or_else(|| ActivityError::not_found(format!("no activity {id} in shop_id {shop_id}")))
}

/// Marks the tenant's rules changed (inside the writing transaction): the cached rule set the
/// earn worker reads carries the activities.
pub(crate) async fn bump_version(tx: &mut PgConnection, crm_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update tenant set rules_version = rules_version + 1, updated_at = now() where crm_id = $1", crm_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// After the commit: the cache gets the new set (a failure only costs a reload later).
pub(crate) async fn refresh_cache(state: &AppState, crm_id: &str) {
    if let Err(e) = state.rules.refresh(&state.db, crm_id).await {
        tracing::warn!(error = %e, crm_id, "rule cache refresh failed");
    }
}
