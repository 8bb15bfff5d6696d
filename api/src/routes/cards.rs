//! Cards (seed 003): definitions (create, detail, list, remove), stock (add/stock, CSV import),
//! and the member operations the workers apply (receive, redeem, present and their reversals).

use axum::{
    extract::{Path, State},
    response::Response,
    Extension,
};
use chrono::{DateTime, Utc};
use platform::broker::headers;
use schemas::{
    cards::{
        AddStock, CreateCard, GeneratePayload, PresentReceive, PresentRequest, ReceiveRequest, ReceiveReverse,
        RedeemRequest, RedeemReverse,
    },
    points::{paging, Cents},
    Envelope, MessageKind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{postgres::PgRow, types::Json, Row};

use super::{
    events::{publish_and_answer, Outgoing, WaitQuery},
    ok,
};
use crate::{
    auth::Tenant,
    error::{ApiError, ApiJson, ApiQuery},
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

/// Asks the workers to run a generation task. A lost message only delays it: the workers'
/// sweeper resumes unfinished tasks idle for a minute.
async fn publish_generate(state: &AppState, crm_id: &str, card_id: &str, generate_id: &str) {
    let payload = GeneratePayload { card_id: card_id.to_string(), generate_id: generate_id.to_string() };
    let key = format!("{card_id}/{generate_id}");
    let envelope = Envelope::new(MessageKind::CardsGenerate, crm_id.to_string(), key, Utc::now(), payload);
    let body = serde_json::to_vec(&envelope).expect("an envelope serializes");
    let props = headers::persistent_json(&envelope.message_id.to_string(), MessageKind::CardsGenerate.as_str());
    if let Err(e) = state.publisher.publish(&state.topology.events_exchange(), "cards.generate", &body, props).await {
        tracing::warn!(error = %e, card_id, generate_id, "generation not queued; the sweeper will resume it");
    }
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

/// The seed types every query parameter as String: numbers are parsed here, naming the field.
pub(crate) fn number(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<i64>().map_err(|_| ApiError::invalid(field, format!("`{s}` is not a number"))))
        .transpose()
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

/// Locks a card that is to receive stock (serialising its stock additions) and checks it can:
/// it exists, is not removed, and gets its codes the way `generate_type` says (1 generated by
/// `add/stock`, 2 imported).
async fn lock_for_stock(
    tx: &mut sqlx::PgConnection,
    crm_id: &str,
    card_id: &str,
    generate_type: i16,
) -> Result<(), ApiError> {
    let card: Option<(bool, i16)> =
        sqlx::query_as("select removed, generate_type from card_info where crm_id = $1 and card_id = $2 for update")
            .bind(crm_id)
            .bind(card_id)
            .fetch_optional(&mut *tx)
            .await?;
    match card {
        None => Err(ApiError::NotFound(format!("no card {card_id} in crm_id {crm_id}"))),
        Some((true, _)) => Err(ApiError::Conflict(format!("card {card_id} is removed: it takes no new stock"))),
        Some((_, 2)) if generate_type == 1 => {
            Err(ApiError::invalid("card_id", "this card's codes are imported (generate_type 2), not generated"))
        }
        Some((_, 1)) if generate_type == 2 => {
            Err(ApiError::invalid("card_id", "this card's codes are generated (generate_type 1), not imported"))
        }
        Some(_) => Ok(()),
    }
}

/// A generation task, as the seed shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StockTask {
    pub auto_id: i64,
    pub crm_id: String,
    pub card_id: String,
    pub quantity: i32,
    pub generate_id: String,
    pub generated: i32,
    pub is_generated: bool,
    pub create_time: String,
    pub update_time: String,
}

/// Adds `quantity` codes to a card's stock, generated by the workers. The same `generate_id`
/// again answers the existing task and generates nothing more.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/add/stock", request_body = AddStock, tag = "cards",
    params(("crm_id" = String, Path)), responses((status = 200, body = StockTask), (status = 404, description = "no such card")))]
pub async fn add_stock(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiJson(body): ApiJson<AddStock>,
) -> Result<axum::Json<schemas::ApiResponse<StockTask>>, ApiError> {
    body.validate()?;
    let generate_id = body.generate_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let mut tx = state.db.begin().await?;
    lock_for_stock(&mut tx, &crm_id, &body.card_id, 1).await?;
    let inserted = sqlx::query(
        "insert into card_generate (crm_id, card_id, generate_id, quantity) values ($1, $2, $3, $4)
         on conflict (crm_id, card_id, generate_id) do nothing",
    )
    .bind(&crm_id)
    .bind(&body.card_id)
    .bind(&generate_id)
    .bind(body.quantity as i32)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query("update card_info set total_quantity = total_quantity + $3, updated_at = now() where crm_id = $1 and card_id = $2")
            .bind(&crm_id)
            .bind(&body.card_id)
            .bind(body.quantity as i32)
            .execute(&mut *tx)
            .await?;
    }
    let row = sqlx::query(
        "select auto_id, crm_id, card_id, quantity, generate_id, generated, is_generated, created_at, updated_at
         from card_generate where crm_id = $1 and card_id = $2 and generate_id = $3",
    )
    .bind(&crm_id)
    .bind(&body.card_id)
    .bind(&generate_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if inserted {
        publish_generate(&state, &crm_id, &body.card_id, &generate_id).await;
    }
    let local = |t: DateTime<Utc>| schemas::time::format_local(t, tenant.tz);
    let task = StockTask {
        auto_id: row.try_get("auto_id")?,
        crm_id: row.try_get("crm_id")?,
        card_id: row.try_get("card_id")?,
        quantity: row.try_get("quantity")?,
        generate_id: row.try_get("generate_id")?,
        generated: row.try_get("generated")?,
        is_generated: row.try_get("is_generated")?,
        create_time: local(row.try_get("created_at")?),
        update_time: local(row.try_get("updated_at")?),
    };
    Ok(ok("生成卡券任务创建成功,请等待卡券创建完成", task))
}

/// A member claims cards through the queue, all or nothing across `card_info`.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/receive", request_body = ReceiveRequest, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn receive(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<ReceiveRequest>,
) -> Result<Response, ApiError> {
    let (received_id, payload) = body.validate()?;
    let message = Outgoing {
        kind: MessageKind::CardsReceive,
        routing_key: "cards.receive".into(),
        key: received_id,
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Redeems a code (the POS): exactly once; a second scan is refused with the reason.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/redeem", request_body = RedeemRequest, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn redeem(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<RedeemRequest>,
) -> Result<Response, ApiError> {
    let (redeem_id, payload) = body.validate()?;
    let message = Outgoing {
        kind: MessageKind::CardsRedeem,
        routing_key: "cards.redeem".into(),
        key: redeem_id,
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// Reverses a redemption (a cancelled sale): the code is available again while still valid.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/redeem_reverse", request_body = RedeemReverse, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn redeem_reverse(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<RedeemReverse>,
) -> Result<Response, ApiError> {
    schemas::points::check_key("redeem_id", &body.redeem_id)?;
    let message = Outgoing {
        kind: MessageKind::CardsRedeemReverse,
        routing_key: "cards.redeem_reverse".into(),
        key: body.redeem_id.clone(),
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, body, q.wait_ms).await
}

/// Presents a code to a friend: it waits (status 2) until received with the `present_id` this
/// answers, or goes back after the tenant's time-out (default 24 h).
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/present", request_body = PresentRequest, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued, with present_id"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn present(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<PresentRequest>,
) -> Result<Response, ApiError> {
    let payload = body.validate()?;
    let present_id = uuid::Uuid::now_v7().simple().to_string();
    let message = Outgoing {
        kind: MessageKind::CardsPresent,
        routing_key: "cards.present".into(),
        key: present_id,
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, payload, q.wait_ms).await
}

/// A friend receives a present (not the giver; at most once; before its time-out).
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/present_receive", request_body = PresentReceive, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn present_receive(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<PresentReceive>,
) -> Result<Response, ApiError> {
    body.validate()?;
    let message = Outgoing {
        kind: MessageKind::CardsPresentReceive,
        routing_key: "cards.present_receive".into(),
        key: body.key(),
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, body, q.wait_ms).await
}

/// Undoes a claim: its codes become obsolete (5), the member's receive count and the card's
/// stock are restored (as many fresh codes join the stock).
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/member/receive_reverse", request_body = ReceiveReverse, tag = "cards",
    params(("crm_id" = String, Path), WaitQuery), responses((status = 202, description = "queued"), (status = 200, description = "outcome (wait_ms)")))]
pub async fn receive_reverse(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    Extension(tenant): Extension<Tenant>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(body): ApiJson<ReceiveReverse>,
) -> Result<Response, ApiError> {
    schemas::points::check_key("received_id", &body.received_id)?;
    let message = Outgoing {
        kind: MessageKind::CardsReceiveReverse,
        routing_key: "cards.receive_reverse".into(),
        key: body.received_id.clone(),
        occurred_at: None,
    };
    publish_and_answer(&state, &tenant, crm_id, message, body, q.wait_ms).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    pub card_id: String,
    /// Makes the import idempotent: the same generate_id imports nothing more.
    pub generate_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub card_id: String,
    pub generate_id: String,
    /// Codes added to the stock.
    pub imported: i64,
    /// Lines whose code was already in the file or in the card's stock.
    pub duplicates: i64,
    /// Line numbers (from 1) that hold no valid code, the first 100.
    pub invalid_lines: Vec<usize>,
    pub invalid: i64,
}

/// Imports codes for a card with `generate_type` 2 from a CSV body (`Content-Type: text/csv`):
/// one code per line, in the first column; an optional `card_code` header line is skipped.
/// Duplicates (in the file or already in stock) are refused and counted; the rest join the stock.
#[utoipa::path(post, path = "/api/crm/card/{crm_id}/import", tag = "cards", params(("crm_id" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"), responses((status = 200, body = ImportReport)))]
pub async fn import(
    State(state): State<AppState>,
    Path(crm_id): Path<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: axum::body::Bytes,
) -> Result<axum::Json<schemas::ApiResponse<ImportReport>>, ApiError> {
    let body =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid("body", "must be UTF-8 text, one code per line"))?;
    schemas::points::check_key("card_id", &q.card_id)?;
    let generate_id = q.generate_id.clone().unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    schemas::points::check_key("generate_id", &generate_id)?;
    let mut codes = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let (mut in_file_duplicates, mut invalid_lines, mut invalid) = (0i64, Vec::new(), 0i64);
    for (n, line) in body.lines().enumerate() {
        let code = line.split(',').next().unwrap_or("").trim().trim_matches('"');
        if code.is_empty() || (n == 0 && code.eq_ignore_ascii_case("card_code")) {
            continue;
        }
        if schemas::points::check_key("card_code", code).is_err() {
            invalid += 1;
            if invalid_lines.len() < 100 {
                invalid_lines.push(n + 1);
            }
            continue;
        }
        if seen.insert(code.to_string()) {
            codes.push(code.to_string());
        } else {
            in_file_duplicates += 1;
        }
    }
    if codes.len() > 2_000_000 {
        return Err(ApiError::invalid("body", "at most 2,000,000 codes per import"));
    }
    let mut tx = state.db.begin().await?;
    lock_for_stock(&mut tx, &crm_id, &q.card_id, 2).await?;
    let existing: Option<i32> = sqlx::query_scalar(
        "select generated from card_generate where crm_id = $1 and card_id = $2 and generate_id = $3",
    )
    .bind(&crm_id)
    .bind(&q.card_id)
    .bind(&generate_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(done) = existing {
        return Ok(ok(
            "这批券码已导入",
            ImportReport {
                card_id: q.card_id,
                generate_id,
                imported: done.into(),
                duplicates: 0,
                invalid_lines: Vec::new(),
                invalid: 0,
            },
        ));
    }
    let imported = sqlx::query(
        "insert into card_code (crm_id, card_id, card_code, generate_id) select $1, $2, c, $3 from unnest($4::text[]) as t(c)
         on conflict do nothing",
    )
    .bind(&crm_id)
    .bind(&q.card_id)
    .bind(&generate_id)
    .bind(&codes)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    if imported > 0 {
        sqlx::query(
            "insert into card_generate (crm_id, card_id, generate_id, quantity, generated, is_generated) values ($1, $2, $3, $4, $4, true)",
        )
        .bind(&crm_id)
        .bind(&q.card_id)
        .bind(&generate_id)
        .bind(imported as i32)
        .execute(&mut *tx)
        .await?;
        sqlx::query("update card_info set total_quantity = total_quantity + $3, updated_at = now() where crm_id = $1 and card_id = $2")
            .bind(&crm_id)
            .bind(&q.card_id)
            .bind(imported as i32)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let duplicates = in_file_duplicates + (codes.len() as i64 - imported);
    Ok(ok(
        "导入券码成功",
        ImportReport { card_id: q.card_id, generate_id, imported, duplicates, invalid_lines, invalid },
    ))
}
