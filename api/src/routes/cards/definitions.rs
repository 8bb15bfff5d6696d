//! Card definitions (seed 003): create, detail, list, remove, and the `Card` they answer.

use axum::{
    extract::{Path, State},
    Extension,
};
use chrono::{DateTime, Utc};
use platform::status::CodeStatus;
use schemas::{cards::CreateCard, checks::paging, money::Cents};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{number, stock::publish_generate};
use crate::{
    audit::{self, Actor},
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
    /// How many codes the card issues (发券量). Generated cards (`generate_type` 1): the codes
    /// ordered, at creation and by `add/stock`. Imported cards (2): the number declared at
    /// creation, which imports fill rather than add to; once more codes are imported than
    /// declared, the number imported.
    pub total_quantity: i32,
    pub get_limit: i32,
    pub use_limit: i32,
    pub can_give_friend: bool,
    /// Can be used together with other promotions.
    pub use_with_other_offer: bool,
    /// Can be used together with other cards.
    pub use_with_other_coupon: bool,
    pub generate_type: i16,
    pub generate_file: Option<String>,
    pub cash_amount: Option<f64>,
    pub cash_condition: Option<f64>,
    /// Items a purchase must count (购满M件); 0: no condition.
    pub qty_condition: i16,
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

/// The card's codes against its `total_quantity`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GenerateInfo {
    /// Codes in the card's stock so far: generated, or imported.
    pub generated: i64,
    /// Codes still to come: still to generate, or declared and not imported yet.
    pub un_generate: i64,
    /// `total_quantity`.
    pub total: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiveInfo {
    pub received: i64,
}

/// A `card_info` row with its generation and receipt counts, as the database types them.
struct CardRow {
    coupon_id: i64,
    crm_id: String,
    card_id: String,
    card_type: i16,
    title: String,
    subtitle: String,
    source: i16,
    scene: Option<String>,
    notice: String,
    rule: String,
    date_type: i16,
    begin_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    start_day_count: Option<i32>,
    expire_day_count: Option<i32>,
    weekdays: Option<String>,
    monthdays: Option<String>,
    day_begin_time: i32,
    day_end_time: i32,
    total_quantity: i32,
    get_limit: i32,
    use_limit: i32,
    can_give_friend: bool,
    use_with_other_offer: bool,
    use_with_other_coupon: bool,
    generate_type: i16,
    generate_file: Option<String>,
    cash_amount_cents: Option<i64>,
    cash_condition_cents: Option<i64>,
    qty_condition: i16,
    discount: Option<f64>,
    icon: String,
    store_codes: Option<String>,
    cost_center: Option<String>,
    cost_type: Option<i16>,
    cost_value: Option<f64>,
    extra_info: Value,
    removed: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    generated: i64,
    received: i64,
}

impl CardRow {
    fn into_card(self, tenant: &Tenant) -> Card {
        let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
        let money = |c: Option<i64>| c.map(|c| c as f64 / 100.0);
        Card {
            coupon_id: self.coupon_id,
            crm_id: self.crm_id,
            card_id: self.card_id,
            card_type: self.card_type,
            title: self.title,
            subtitle: self.subtitle,
            source: self.source,
            scene: self.scene,
            notice: self.notice,
            rule: self.rule,
            date_type: self.date_type,
            begin_time: self.begin_time.map(|t| t.timestamp()),
            end_time: self.end_time.map(|t| t.timestamp()),
            start_day_count: self.start_day_count,
            expire_day_count: self.expire_day_count,
            weekdays: self.weekdays,
            monthdays: self.monthdays,
            day_begin_time: self.day_begin_time,
            day_end_time: self.day_end_time,
            total_quantity: self.total_quantity,
            get_limit: self.get_limit,
            use_limit: self.use_limit,
            can_give_friend: self.can_give_friend,
            use_with_other_offer: self.use_with_other_offer,
            use_with_other_coupon: self.use_with_other_coupon,
            generate_type: self.generate_type,
            generate_file: self.generate_file,
            cash_amount: money(self.cash_amount_cents),
            cash_condition: money(self.cash_condition_cents),
            qty_condition: self.qty_condition,
            discount: self.discount,
            icon: self.icon,
            store_codes: self.store_codes,
            cost_center: self.cost_center,
            cost_type: self.cost_type,
            cost_value: self.cost_value,
            extra_info: self.extra_info,
            removed: self.removed,
            create_time: local(self.created_at),
            update_time: local(self.updated_at),
            // A generated card's total is what its tasks ordered; an imported card's, what it
            // declared or imported: either way `total_quantity`.
            generate_info: GenerateInfo {
                generated: self.generated,
                un_generate: (i64::from(self.total_quantity) - self.generated).max(0),
                total: self.total_quantity.into(),
            },
            receive_info: ReceiveInfo { received: self.received },
        }
    }
}

/// The cards of `crm_id` named by `card_id` or by one of `coupon_ids`, newest first: the one
/// statement both the detail and the list read cards with.
async fn load_cards(
    state: &AppState,
    tenant: &Tenant,
    crm_id: &str,
    card_id: Option<&str>,
    coupon_ids: &[i64],
) -> Result<Vec<Card>, ApiError> {
    let rows = sqlx::query_as!(
        CardRow,
        r#"select c.coupon_id, c.crm_id, c.card_id, c.card_type, c.title, c.subtitle, c.source, c.scene, c.notice,
            c.rule, c.date_type, c.begin_time, c.end_time, c.start_day_count, c.expire_day_count, c.weekdays, c.monthdays,
            c.day_begin_time, c.day_end_time, c.total_quantity, c.get_limit, c.use_limit, c.can_give_friend,
            c.use_with_other_offer, c.use_with_other_coupon, c.generate_type, c.generate_file, c.cash_amount_cents,
            c.cash_condition_cents, c.qty_condition, c.discount, c.icon, c.store_codes, c.cost_center,
            c.cost_type, c.cost_value, c.extra_info, c.removed, c.created_at, c.updated_at,
            coalesce((select sum(g.generated) from card_generate g where g.crm_id = c.crm_id and g.card_id = c.card_id), 0)::bigint as "generated!",
            (select count(*) from card_code k where k.crm_id = c.crm_id and k.card_id = c.card_id and k.status > $4) as "received!"
         from card_info c where c.crm_id = $1 and (c.card_id = $2 or c.coupon_id = any($3))
         order by c.coupon_id desc"#,
        crm_id,
        card_id,
        coupon_ids,
        CodeStatus::InStock as _,
    )
    .fetch_all(&state.db)
    .await?;
    Ok(rows.into_iter().map(|r| r.into_card(tenant)).collect())
}

async fn load_card(state: &AppState, tenant: &Tenant, crm_id: &str, card_id: &str) -> Result<Card, ApiError> {
    load_cards(state, tenant, crm_id, Some(card_id), &[])
        .await?
        .pop()
        .ok_or_else(|| ApiError::NotFound(format!("no card {card_id} in crm_id {crm_id}")))
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
    sqlx::query!(
        "insert into card_info (crm_id, card_id, card_type, title, subtitle, source, scene, notice, rule, date_type, begin_time,
             end_time, start_day_count, expire_day_count, weekdays, monthdays, day_begin_time, day_end_time, total_quantity,
             get_limit, use_limit, can_give_friend, generate_type, generate_file, cash_amount_cents, cash_condition_cents,
             discount, icon, store_codes, cost_center, cost_type, cost_value, extra_info, use_with_other_offer,
             use_with_other_coupon, qty_condition)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23,
                 $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36)",
        crm_id,
        card_id,
        c.card_type as i16,
        c.title,
        c.subtitle,
        c.source as i16,
        c.scene,
        c.notice,
        c.rule,
        c.date_type.unwrap_or(3) as i16,
        time(c.begin_time),
        time(c.end_time),
        c.start_day_count.map(|v| v as i32),
        c.expire_day_count.map(|v| v as i32),
        c.weekdays,
        c.monthdays,
        c.day_begin_time.unwrap_or(0) as i32,
        c.day_end_time.unwrap_or(86_399) as i32,
        c.total_quantity as i32,
        c.get_limit.unwrap_or(0) as i32,
        c.use_limit.unwrap_or(0) as i32,
        c.can_give_friend.unwrap_or(true),
        c.generate_type as i16,
        c.generate_file,
        c.cash_amount.map(|v: Cents| v.0),
        c.cash_condition.map(|v: Cents| v.0),
        c.discount,
        c.icon,
        c.store_codes,
        c.cost_center,
        c.cost_type.map(|v| v as i16),
        c.cost_value,
        c.extra_info,
        c.use_with_other_offer.unwrap_or(false),
        c.use_with_other_coupon.unwrap_or(false),
        c.qty_condition.unwrap_or(0) as i16,
    )
    .execute(&mut *tx)
    .await?;
    let generate = c.generate_type == 1 && c.total_quantity > 0;
    if generate {
        sqlx::query!(
            "insert into card_generate (crm_id, card_id, generate_id, quantity) values ($1, $2, 'initial', $3)",
            crm_id,
            card_id,
            c.total_quantity as i32,
        )
        .execute(&mut *tx)
        .await?;
    }
    let after = stored_card(&mut tx, &crm_id, &card_id).await?;
    audit::record(&mut tx, &Actor::tenant(&tenant), "card", &card_id, "create", None, after).await?;
    tx.commit().await?;
    if generate {
        publish_generate(&state, &crm_id, &card_id, "initial").await;
    }
    Ok(ok("创建卡券成功", load_card(&state, &tenant, &crm_id, &card_id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
#[into_params(parameter_in = Query)]
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
    let card_type = card_type.map(|v| v as i32);
    let source = source.map(|v| v as i32);
    let scene = q.scene.filter(|s| !s.is_empty());
    let total = sqlx::query_scalar!(
        r#"select count(*) as "total!" from card_info c where c.crm_id = $1 and not c.removed
             and ($2::int is null or c.card_type = $2) and ($3::int is null or c.source = $3)
             and ($4::text is null or c.scene = $4)"#,
        crm_id,
        card_type,
        source,
        scene,
    )
    .fetch_one(&state.db)
    .await?;
    let page_ids = sqlx::query_scalar!(
        "select c.coupon_id from card_info c where c.crm_id = $1 and not c.removed
           and ($2::int is null or c.card_type = $2) and ($3::int is null or c.source = $3)
           and ($4::text is null or c.scene = $4)
         order by c.coupon_id desc limit $5 offset $6",
        crm_id,
        card_type,
        source,
        scene,
        size,
        (page - 1) * size,
    )
    .fetch_all(&state.db)
    .await?;
    let results = load_cards(&state, &tenant, &crm_id, None, &page_ids).await?;
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
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<RemoveCard>,
) -> Result<axum::Json<schemas::ApiResponse<Value>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let before = stored_card(&mut tx, &crm_id, &body.card_id).await?;
    let done = sqlx::query!(
        "update card_info set removed = true, updated_at = now() where crm_id = $1 and card_id = $2",
        crm_id,
        body.card_id,
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound(format!("no card {} in crm_id {crm_id}", body.card_id)));
    }
    let after = stored_card(&mut tx, &crm_id, &body.card_id).await?;
    audit::record(&mut tx, &Actor::tenant(&tenant), "card", &body.card_id, "remove", before, after).await?;
    tx.commit().await?;
    Ok(ok("删除卡券成功", Value::Null))
}

/// The card's stored row as JSON (the audit log's before and after), if it exists.
async fn stored_card(tx: &mut sqlx::PgConnection, crm_id: &str, card_id: &str) -> Result<Option<Value>, ApiError> {
    Ok(sqlx::query_scalar!(
        r#"select to_jsonb(c) as "row!" from card_info c where crm_id = $1 and card_id = $2 for update"#,
        crm_id,
        card_id,
    )
    .fetch_optional(&mut *tx)
    .await?)
}
