//! Seed 001's writes: create, to-update, general-del / -enable / -disable, and the linked goods
//! (create, delete). Each is one transaction: the change, the tenant's `rules_version`, the
//! audit entry; then the rule cache is refreshed.

use axum::{extract::State, Extension, Json};
use schemas::activities::{ActivityBody, GoodsBody, IdShop};
use serde::Serialize;

use super::{
    bump_version, field, find, ok, queries::GoodsView, refresh_cache, ActivityError, ActivityView, Answer,
    ConsumptionView,
};
use crate::{
    audit::{self, Actor},
    auth::Tenant,
    error::{ApiError, ApiJson},
    AppState,
};

type Reply<T> = Result<Json<Answer<T>>, ActivityError>;

fn body<T>(b: Result<ApiJson<T>, ApiError>) -> Result<T, ActivityError> {
    b.map(|ApiJson(v)| v).map_err(ActivityError)
}

/// The answer of the deletes: `{"errcode":0,"errmsg":"ok","data":null}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Done {
    pub errcode: i32,
    pub errmsg: String,
    /// Always null.
    #[schema(value_type = Option<i64>)]
    pub data: Option<i64>,
}

fn done() -> Json<Done> {
    Json(Done { errcode: 0, errmsg: "ok".into(), data: None })
}

/// `create` and `to-update` answer the activity and its points rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Saved {
    pub activity: ActivityView,
    #[serde(rename = "pointsConsumption")]
    pub points_consumption: ConsumptionView,
}

/// `POST /points-consumption/create`: a new activity, enabled.
#[utoipa::path(post, path = "/points-consumption/create", request_body = ActivityBody, tag = "activities",
    responses((status = 200, body = Answer<Saved>)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<ActivityBody>, ApiError>,
) -> Reply<Saved> {
    let f = body(b)?.into_new().map_err(field)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let id = sqlx::query_scalar!(
        r#"insert into points_activity (crm_id, shop_id, shop_sub_id, relate_product_type, name, "desc", sort, expire_type,
                                       start_time, end_time, type, amount, points, share_message, news)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning id"#,
        crm,
        f.shop_id,
        f.shop_sub_id,
        f.relate_product_type as i16,
        f.name,
        f.desc,
        f.sort,
        f.expire_type as i16,
        f.start_time,
        f.end_time,
        f.kind as i16,
        f.amount,
        f.points,
        f.share_message.as_ref().and_then(audit::json),
        f.news.as_ref().and_then(audit::json),
    )
    .fetch_one(&mut *tx)
    .await?;
    bump_version(&mut tx, crm).await?;
    audit::record(
        &mut tx,
        &Actor::tenant(&tenant),
        "points_activity",
        &id.to_string(),
        "create",
        None,
        audit::json(&f),
    )
    .await?;
    let row = find(&mut tx, crm, id, f.shop_id, false).await?;
    tx.commit().await?;
    refresh_cache(&state, crm).await;
    Ok(ok(Saved { activity: row.view(), points_consumption: row.consumption() }))
}

/// `POST /points-consumption/to-update`: the fields sent replace the stored ones.
#[utoipa::path(post, path = "/points-consumption/to-update", request_body = ActivityBody, tag = "activities",
    responses((status = 200, body = Answer<Saved>), (status = 404, description = "no such activity in the shop")))]
pub async fn update(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<ActivityBody>, ApiError>,
) -> Reply<Saved> {
    let b = body(b)?;
    let (id, shop_id, consumption_id) = b.update_ids().map_err(field)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let row = find(&mut tx, crm, id, shop_id, true).await?;
    if row.consumption_id != consumption_id {
        return Err(ActivityError(ApiError::invalid(
            "pointsConsumption.id",
            format!("is not the points rule of activity {id} (that is {})", row.consumption_id),
        )));
    }
    let before = row.fields();
    let f = b.merge_into(before.clone()).map_err(field)?;
    sqlx::query!(
        r#"update points_activity set shop_sub_id = $3, relate_product_type = $4, name = $5, "desc" = $6, sort = $7,
                  expire_type = $8, start_time = $9, end_time = $10, type = $11, amount = $12, points = $13,
                  share_message = $14, news = $15, updated_at = now()
           where crm_id = $1 and id = $2"#,
        crm,
        id,
        f.shop_sub_id,
        f.relate_product_type as i16,
        f.name,
        f.desc,
        f.sort,
        f.expire_type as i16,
        f.start_time,
        f.end_time,
        f.kind as i16,
        f.amount,
        f.points,
        f.share_message.as_ref().and_then(audit::json),
        f.news.as_ref().and_then(audit::json),
    )
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx, crm).await?;
    let (before, after) = (audit::json(&before), audit::json(&f));
    audit::record(&mut tx, &Actor::tenant(&tenant), "points_activity", &id.to_string(), "update", before, after)
        .await?;
    let row = find(&mut tx, crm, id, shop_id, false).await?;
    tx.commit().await?;
    refresh_cache(&state, crm).await;
    Ok(ok(Saved { activity: row.view(), points_consumption: row.consumption() }))
}

/// The three state changes of `general-*`.
#[derive(Clone, Copy)]
enum Change {
    Remove,
    Enable,
    Disable,
}

/// Applies a `general-*` change; the activity after it (none after a delete).
async fn change(
    state: &AppState,
    tenant: &Tenant,
    b: IdShop,
    what: Change,
) -> Result<Option<ActivityView>, ActivityError> {
    let (id, shop_id) = b.check().map_err(field)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let row = find(&mut tx, crm, id, shop_id, true).await?;
    let action = match what {
        Change::Remove => {
            sqlx::query!(
                "update points_activity set removed_at = now(), updated_at = now() where crm_id = $1 and id = $2",
                crm,
                id
            )
            .execute(&mut *tx)
            .await?;
            "delete"
        }
        Change::Enable | Change::Disable => {
            let enabled = matches!(what, Change::Enable);
            sqlx::query!(
                "update points_activity set enabled = $3, updated_at = now() where crm_id = $1 and id = $2",
                crm,
                id,
                enabled
            )
            .execute(&mut *tx)
            .await?;
            if enabled {
                "enable"
            } else {
                "disable"
            }
        }
    };
    bump_version(&mut tx, crm).await?;
    let view = match what {
        Change::Remove => None,
        _ => Some(find(&mut tx, crm, id, shop_id, false).await?.view()),
    };
    let (before, after) = (audit::json(&row.view()), view.as_ref().and_then(audit::json));
    audit::record(&mut tx, &Actor::tenant(tenant), "points_activity", &id.to_string(), action, before, after).await?;
    tx.commit().await?;
    refresh_cache(state, crm).await;
    Ok(view)
}

/// `POST /points-consumption/general-del`: the activity stops awarding at once; the ledger
/// keeps naming it.
#[utoipa::path(post, path = "/points-consumption/general-del", request_body = IdShop, tag = "activities",
    responses((status = 200, body = Done), (status = 404, description = "no such activity in the shop")))]
pub async fn remove(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<IdShop>, ApiError>,
) -> Result<Json<Done>, ActivityError> {
    change(&state, &tenant, body(b)?, Change::Remove).await?;
    Ok(done())
}

/// `POST /points-consumption/general-enable`: `deleted` becomes 1.
#[utoipa::path(post, path = "/points-consumption/general-enable", request_body = IdShop, tag = "activities",
    responses((status = 200, body = Answer<ActivityView>), (status = 404, description = "no such activity in the shop")))]
pub async fn enable(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<IdShop>, ApiError>,
) -> Reply<ActivityView> {
    let view = change(&state, &tenant, body(b)?, Change::Enable).await?;
    Ok(ok(view.expect("an enabled activity is answered")))
}

/// `POST /points-consumption/general-disable`: `deleted` becomes 2; the activity stops awarding.
#[utoipa::path(post, path = "/points-consumption/general-disable", request_body = IdShop, tag = "activities",
    responses((status = 200, body = Answer<ActivityView>), (status = 404, description = "no such activity in the shop")))]
pub async fn disable(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<IdShop>, ApiError>,
) -> Reply<ActivityView> {
    let view = change(&state, &tenant, body(b)?, Change::Disable).await?;
    Ok(ok(view.expect("a disabled activity is answered")))
}

/// `POST /points-consumption/create-points-consumption-goods`: links a SKU to an activity (an
/// order line counts for a `relate_product_type` 1 activity when its `sku` is this
/// `product_sku_id` in decimal).
#[utoipa::path(post, path = "/points-consumption/create-points-consumption-goods", request_body = GoodsBody, tag = "activities",
    responses((status = 200, body = Answer<GoodsView>), (status = 404, description = "no such activity in the shop"),
              (status = 409, description = "the SKU is already linked to the activity")))]
pub async fn create_goods(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<GoodsBody>, ApiError>,
) -> Reply<GoodsView> {
    let g = body(b)?.check().map_err(field)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    find(&mut tx, crm, g.points_consumption_id, g.shop_id, true).await?;
    let inserted = sqlx::query_as!(
        GoodsView,
        r#"insert into points_activity_goods (crm_id, points_consumption_id, product_id, product_sku_id, shop_id, shop_sub_id)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (crm_id, points_consumption_id, product_sku_id) do nothing
           returning id, points_consumption_id, product_id, product_sku_id, shop_id, shop_sub_id,
                     extract(epoch from created_at)::bigint as "created!", extract(epoch from updated_at)::bigint as "modified!""#,
        crm,
        g.points_consumption_id,
        g.product_id,
        g.product_sku_id,
        g.shop_id,
        g.shop_sub_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(view) = inserted else {
        return Err(ActivityError(ApiError::Conflict(format!(
            "product_sku_id {} is already linked to activity {}",
            g.product_sku_id, g.points_consumption_id
        ))));
    };
    bump_version(&mut tx, crm).await?;
    audit::record(
        &mut tx,
        &Actor::tenant(&tenant),
        "points_activity_goods",
        &view.id.to_string(),
        "create",
        None,
        audit::json(&view),
    )
    .await?;
    tx.commit().await?;
    refresh_cache(&state, crm).await;
    Ok(ok(view))
}

/// `POST /points-consumption/del-points-consumption-goods`: unlinks a SKU (`id` is the link's).
#[utoipa::path(post, path = "/points-consumption/del-points-consumption-goods", request_body = IdShop, tag = "activities",
    responses((status = 200, body = Done), (status = 404, description = "no such goods link in the shop")))]
pub async fn remove_goods(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<IdShop>, ApiError>,
) -> Result<Json<Done>, ActivityError> {
    let (id, shop_id) = body(b)?.check().map_err(field)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let removed = sqlx::query_as!(
        GoodsView,
        r#"delete from points_activity_goods where crm_id = $1 and id = $2 and shop_id = $3
           returning id, points_consumption_id, product_id, product_sku_id, shop_id, shop_sub_id,
                     extract(epoch from created_at)::bigint as "created!", extract(epoch from updated_at)::bigint as "modified!""#,
        crm,
        id,
        shop_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ActivityError(ApiError::NotFound(format!("no goods link {id} in shop_id {shop_id}"))))?;
    bump_version(&mut tx, crm).await?;
    audit::record(
        &mut tx,
        &Actor::tenant(&tenant),
        "points_activity_goods",
        &id.to_string(),
        "delete",
        audit::json(&removed),
        None,
    )
    .await?;
    tx.commit().await?;
    refresh_cache(&state, crm).await;
    Ok(done())
}
