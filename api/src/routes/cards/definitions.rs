//! Card definitions (seed 003): create, detail, list, remove, and the `Card` they answer.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use schemas::{cards::CreateCard, checks::paging, money::Cents};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{postgres::PgRow, types::Json, Row};

use super::{number, stock::publish_generate};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
    routes::ok,
    AppState,
};

/// A card as seed 003's detail and list show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Card {
    pub coupon_id: i64,
    pub crm_id: String,
    pub card_id: String,
    pub card_type: i16,
    pub title: String,
    pub subtitle: String,
    pub source: i16,
    pub scene: Option<String>,
    pub notice: String,
    pub rule: String,
    pub date_type: i16,
    pub begin_time: Option<i64>,
    pub end_time: Option<i64>,
    pub start_day_count: Option<i32>,
    pub expire_day_count: Option<i32>,
    pub weekdays: Option<String>,
    pub monthdays: Option<String>,
    pub day_begin_time: i32,
    pub day_end_time: i32,
    pub total_quantity: i32,
    pub get_limit: i32,
    pub use_limit: i32,
    pub can_give_friend: bool,
    pub generate_type: i16,
    pub generate_file: Option<String>,
    pub cash_amount: Option<f64>,
    pub cash_condition: Option<f64>,
    pub discount: Option<f64>,
    pub icon: String,
    pub store_codes: Option<String>,
    pub cost_center: Option<String>,
    pub cost_type: Option<i16>,
    pub cost_value: Option<f64>,
    #[schema(value_type = Object)]
    pub extra_info: Value,
    pub removed: bool,
    pub create_time: String,
    pub update_time: String,
    pub generate_info: GenerateInfo,
    pub receive_info: ReceiveInfo,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenerateInfo {
    pub generated: i64,
    pub un_generate: i64,
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiveInfo {
    pub received: i64,
}

const CARD_COLUMNS: &str = "c.coupon_id, c.crm_id, c.card_id, c.card_type, c.title, c.subtitle, c.source, c.scene, c.notice,
    c.rule, c.date_type, c.begin_time, c.end_time, c.start_day_count, c.expire_day_count, c.weekdays, c.monthdays,
    c.day_begin_time, c.day_end_time, c.total_quantity, c.get_limit, c.use_limit, c.can_give_friend, c.generate_type,
    c.generate_file, c.cash_amount_cents, c.cash_condition_cents, c.discount, c.icon, c.store_codes, c.cost_center,
    c.cost_type, c.cost_value, c.extra_info, c.removed, c.created_at, c.updated_at,
    coalesce((select sum(g.generated) from card_generate g where g.crm_id = c.crm_id and g.card_id = c.card_id), 0)::bigint as generated,
    coalesce((select sum(g.quantity) from card_generate g where g.crm_id = c.crm_id and g.card_id = c.card_id), 0)::bigint as ordered,
    (select count(*) from card_code k where k.crm_id = c.crm_id and k.card_id = c.card_id and k.status > 0) as received";

fn card_from_row(r: &PgRow, tenant: &Tenant) -> sqlx::Result<Card> {
    let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
    let money = |c: Option<i64>| c.map(|c| c as f64 / 100.0);
    let generated: i64 = r.try_get("generated")?;
    let ordered: i64 = r.try_get("ordered")?;
    Ok(Card {
        coupon_id: r.try_get("coupon_id")?,
        crm_id: r.try_get("crm_id")?,
        card_id: r.try_get("card_id")?,
        card_type: r.try_get("card_type")?,
        title: r.try_get("title")?,
        subtitle: r.try_get("subtitle")?,
        source: r.try_get("source")?,
        scene: r.try_get("scene")?,
        notice: r.try_get("notice")?,
        rule: r.try_get("rule")?,
        date_type: r.try_get("date_type")?,
        begin_time: r.try_get::<Option<DateTime<Utc>>, _>("begin_time")?.map(|t| t.timestamp()),
        end_time: r.try_get::<Option<DateTime<Utc>>, _>("end_time")?.map(|t| t.timestamp()),
        start_day_count: r.try_get("start_day_count")?,
        expire_day_count: r.try_get("expire_day_count")?,
        weekdays: r.try_get("weekdays")?,
        monthdays: r.try_get("monthdays")?,
        day_begin_time: r.try_get("day_begin_time")?,
        day_end_time: r.try_get("day_end_time")?,
        total_quantity: r.try_get("total_quantity")?,
        get_limit: r.try_get("get_limit")?,
        use_limit: r.try_get("use_limit")?,
        can_give_friend: r.try_get("can_give_friend")?,
        generate_type: r.try_get("generate_type")?,
        generate_file: r.try_get("generate_file")?,
        cash_amount: money(r.try_get("cash_amount_cents")?),
        cash_condition: money(r.try_get("cash_condition_cents")?),
        discount: r.try_get("discount")?,
        icon: r.try_get("icon")?,
        store_codes: r.try_get("store_codes")?,
        cost_center: r.try_get("cost_center")?,
        cost_type: r.try_get("cost_type")?,
        cost_value: r.try_get("cost_value")?,
        extra_info: r.try_get::<Json<Value>, _>("extra_info")?.0,
        removed: r.try_get("removed")?,
        create_time: local(r.try_get("created_at")?),
        update_time: local(r.try_get("updated_at")?),
        generate_info: GenerateInfo { generated, un_generate: ordered - generated, total: ordered },
        receive_info: ReceiveInfo { received: r.try_get("received")? },
    })
}

async fn load_card(state: &AppState, tenant: &Tenant, crm_id: &str, card_id: &str) -> Result<Card, ApiError> {
    let row = sqlx::query(&format!("select {CARD_COLUMNS} from card_info c where c.crm_id = $1 and c.card_id = $2"))
        .bind(crm_id)
        .bind(card_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no card {card_id} in crm_id {crm_id}")))?;
    Ok(card_from_row(&row, tenant)?)
}

/// Creates a card; with `generate_type` 1 its `total_quantity` codes are generated by the
/// workers (progress in `generate_info`).
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/create", request_body = CreateCard, tag = "cards",
    params(("crm_id" = String, Path)), responses((status = 200, body = Card), (status = 422, description = "a field is invalid")))]
pub async fn create(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(c): ApiJson<CreateCard>,
) -> Result<axum::Json<schemas::ApiResponse<Card>>, ApiError> {
    c.validate()?;
    let card_id = uuid::Uuid::new_v4().simple().to_string();
    let time = |t: Option<i64>| t.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
    let mut tx = state.db.begin().await?;
    sqlx::query(
        "insert into card_info (crm_id, card_id, card_type, title, subtitle, source, scene, notice, rule, date_type, begin_time,
             end_time, start_day_count, expire_day_count, weekdays, monthdays, day_begin_time, day_end_time, total_quantity,
             get_limit, use_limit, can_give_friend, generate_type, generate_file, cash_amount_cents, cash_condition_cents,
             discount, icon, store_codes, cost_center, cost_type, cost_value, extra_info)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
                 $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)",
    )
    .bind(&crm_id)
    .bind(&card_id)
    .bind(c.card_type as i16)
    .bind(&c.title)
    .bind(&c.subtitle)
    .bind(c.source as i16)
    .bind(&c.scene)
    .bind(&c.notice)
    .bind(&c.rule)
    .bind(c.date_type.unwrap_or(3) as i16)
    .bind(time(c.begin_time))
    .bind(time(c.end_time))
    .bind(c.start_day_count.map(|v| v as i32))
    .bind(c.expire_day_count.map(|v| v as i32))
    .bind(&c.weekdays)
    .bind(&c.monthdays)
    .bind(c.day_begin_time.unwrap_or(0) as i32)
    .bind(c.day_end_time.unwrap_or(86_399) as i32)
    .bind(c.total_quantity as i32)
    .bind(c.get_limit.unwrap_or(0) as i32)
    .bind(c.use_limit.unwrap_or(0) as i32)
    .bind(c.can_give_friend.unwrap_or(true))
    .bind(c.generate_type as i16)
    .bind(&c.generate_file)
    .bind(c.cash_amount.map(|v: Cents| v.0))
    .bind(c.cash_condition.map(|v: Cents| v.0))
    .bind(c.discount)
    .bind(&c.icon)
    .bind(&c.store_codes)
    .bind(&c.cost_center)
    .bind(c.cost_type.map(|v| v as i16))
    .bind(c.cost_value)
    .bind(Json(&c.extra_info))
    .execute(&mut *tx)
    .await?;
    let generate = c.generate_type == 1 && c.total_quantity > 0;
    if generate {
        sqlx::query(
            "insert into card_generate (crm_id, card_id, generate_id, quantity) values ($1, $2, 'initial', $3)",
        )
        .bind(&crm_id)
        .bind(&card_id)
        .bind(c.total_quantity as i32)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if generate {
        publish_generate(&state, &crm_id, &card_id, "initial").await;
    }
    Ok(ok("创建卡券成功", load_card(&state, &tenant, &crm_id, &card_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CardQuery {
    pub card_id: String,
}

/// One card with its generation progress.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/detail", tag = "cards", params(("crm_id" = String, Path), CardQuery),
    responses((status = 200, body = Card), (status = 404, description = "no such card")))]
pub async fn detail(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<CardQuery>,
) -> Result<axum::Json<schemas::ApiResponse<Card>>, ApiError> {
    Ok(ok("获取卡券详情成功", load_card(&state, &tenant, &crm_id, &q.card_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub page_id: Option<String>,
    pub page_size: Option<String>,
    pub card_type: Option<String>,
    pub source: Option<String>,
    pub scene: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardPage {
    pub total: i64,
    pub results: Vec<Card>,
}

/// Live (not removed) cards, newest first, with the seed's filters.
#[utoipa::path(get, path = "/api/crm/card/{crm_id}/list", tag = "cards", params(("crm_id" = String, Path), ListQuery),
    responses((status = 200, body = CardPage)))]
pub async fn list(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<schemas::ApiResponse<CardPage>>, ApiError> {
    let (page, size) =
        paging(number("page_id", q.page_id.as_deref())?, number("page_size", q.page_size.as_deref())?, 10, 100)?;
    let card_type = number("card_type", q.card_type.as_deref())?;
    let source = number("source", q.source.as_deref())?;
    let filter = "from card_info c where c.crm_id = $1 and not c.removed
                  and ($2::int is null or c.card_type = $2) and ($3::int is null or c.source = $3)
                  and ($4::text is null or c.scene = $4)";
    let args = (card_type.map(|v| v as i32), source.map(|v| v as i32), q.scene.filter(|s| !s.is_empty()));
    let total: i64 = sqlx::query_scalar(&format!("select count(*) {filter}"))
        .bind(&crm_id)
        .bind(args.0)
        .bind(args.1)
        .bind(&args.2)
        .fetch_one(&state.db)
        .await?;
    let rows = sqlx::query(&format!("select {CARD_COLUMNS} {filter} order by c.coupon_id desc limit $5 offset $6"))
        .bind(&crm_id)
        .bind(args.0)
        .bind(args.1)
        .bind(&args.2)
        .bind(size)
        .bind((page - 1) * size)
        .fetch_all(&state.db)
        .await?;
    let results = rows.iter().map(|r| card_from_row(r, &tenant)).collect::<sqlx::Result<Vec<_>>>()?;
    Ok(ok("获取卡券信息成功", CardPage { total, results }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveCard {
    pub card_id: String,
}

/// Removes a card softly: no new receipts from now on; codes already held keep working until
/// they expire.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/remove", request_body = RemoveCard, tag = "cards",
    params(("crm_id" = String, Path)), responses((status = 200, description = "removed"), (status = 404, description = "no such card")))]
pub async fn remove(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiJson(body): ApiJson<RemoveCard>,
) -> Result<axum::Json<schemas::ApiResponse<Value>>, ApiError> {
    let done =
        sqlx::query("update card_info set removed = true, updated_at = now() where crm_id = $1 and card_id = $2")
            .bind(&crm_id)
            .bind(&body.card_id)
            .execute(&state.db)
            .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("no card {} in crm_id {crm_id}", body.card_id)));
    }
    Ok(ok("删除卡券成功", Value::Null))
}
