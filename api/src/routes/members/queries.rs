//! Member reads (seed 002 §1, §3, §7, §8, §15, §16, §17): the list with the seed's paging
//! (`rows`, `page`, `sidx`, `sord`, `needTotal`), one member, lookups by identity and by MD5,
//! and the point and experience logs read from the ledger.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
    Extension, Json,
};
use chrono::{DateTime, Utc};
use schemas::{
    checks::de_lenient_int,
    members::{check_identity_type, format_datetime},
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{commands::parse_identities, error::MemberId, store, MemberError};
use crate::{
    auth::Tenant,
    error::{ApiJson, ApiQuery},
    AppState,
};

type Answer = Result<Json<Value>, MemberError>;

/// The seed's paging parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Rows per page, 1-500 (default 20).
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[param(value_type = Option<i64>)]
    pub rows: Option<i64>,
    /// From 1 (default 1).
    #[serde(default, deserialize_with = "de_lenient_int")]
    #[param(value_type = Option<i64>)]
    pub page: Option<i64>,
    /// The sort field: id (default), dateCreated, lastUpdated, dateJoin.
    #[serde(default)]
    pub sidx: Option<String>,
    /// asc (default) | desc
    #[serde(default)]
    pub sord: Option<String>,
    /// true: the answer carries `records` (rows in all) and `total` (pages).
    #[serde(default, rename = "needTotal")]
    pub need_total: Option<bool>,
}

pub(crate) struct Page {
    pub rows: i64,
    pub page: i64,
    pub desc: bool,
    pub need_total: bool,
}

/// The `sidx` the logs take: they are in the order of their rows.
pub(crate) const LOG_SIDX: &[&str] = &["id"];

/// The `sidx` the member list takes.
pub(super) const LIST_SIDX: &[&str] = &["id", "dateCreated", "lastUpdated", "dateJoin"];

pub(crate) fn page_of(p: &Paging, sidx: &[&str]) -> Result<Page, MemberError> {
    if let Some(s) = p.sidx.as_deref().filter(|s| !sidx.contains(s)) {
        return Err(MemberError::invalid("sidx", format!("must be one of {} (not {s})", sidx.join(", "))));
    }
    let rows = p.rows.unwrap_or(20);
    if !(1..=500).contains(&rows) {
        return Err(MemberError::invalid("rows", "must be between 1 and 500"));
    }
    let page = p.page.unwrap_or(1);
    if !(1..=1_000_000).contains(&page) {
        return Err(MemberError::invalid("page", "must be between 1 and 1000000"));
    }
    let desc = match p.sord.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(MemberError::invalid("sord", "must be asc or desc")),
    };
    Ok(Page { rows, page, desc, need_total: p.need_total.unwrap_or(false) })
}

/// `{"rows": [...]}`, with `records` and `total` (pages) when asked.
pub(crate) fn paged(rows: Vec<Value>, records: Option<i64>, page: &Page) -> Value {
    let mut v = json!({ "rows": rows });
    if let Some(n) = records {
        v["records"] = json!(n);
        v["total"] = json!((n + page.rows - 1) / page.rows);
    }
    v
}

/// `GET /loyalty/v1/membership`: the tenant's members, paged.
#[utoipa::path(get, path = "/loyalty/v1/membership", tag = "members", params(Paging), responses((status = 200, body = crate::routes::members::docs::MembershipPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Result<ApiQuery<Paging>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let page = page_of(&q, LIST_SIDX)?;
    let column = match q.sidx.as_deref() {
        None | Some("id") => "m.id",
        Some("dateCreated") => "m.created_at",
        Some("lastUpdated") => "m.updated_at",
        Some("dateJoin") => "m.date_join",
        Some(_) => return Err(MemberError::invalid("sidx", "must be id, dateCreated, lastUpdated or dateJoin")),
    };
    let dir = if page.desc { "desc" } else { "asc" };
    let crm = &tenant.crm_id;
    let mut db = state.db.acquire().await?;
    let decls = store::declarations(&mut db, crm).await?;
    let rows: Vec<store::MemberRow> = sqlx::query_as(&format!(
        "select {} {} where m.crm_id = $1 order by {column} {dir}, m.id {dir} limit $2 offset $3",
        store::MEMBER_COLUMNS,
        store::MEMBER_FROM
    ))
    .bind(crm)
    .bind(page.rows)
    .bind((page.page - 1) * page.rows)
    .fetch_all(&mut *db)
    .await?;
    let records = if page.need_total {
        Some(sqlx::query_scalar("select count(*) from member where crm_id = $1").bind(crm).fetch_one(&mut *db).await?)
    } else {
        None
    };
    Ok(Json(paged(rows.iter().map(|r| r.view(&decls)).collect(), records, &page)))
}

/// `GET /loyalty/v1/membership/{id}`.
#[utoipa::path(get, path = "/loyalty/v1/membership/{id}", tag = "members", params(("id" = i64, Path)), responses((status = 200, body = crate::routes::members::docs::Membership)))]
pub async fn one(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
) -> Answer {
    let mut db = state.db.acquire().await?;
    let decls = store::declarations(&mut db, &tenant.crm_id).await?;
    Ok(Json(store::load(&mut db, &tenant.crm_id, id).await?.view(&decls)))
}

/// `{identities, membership}` for each member id, in order.
async fn with_identities(db: &mut sqlx::PgConnection, crm: &str, ids: &[i64]) -> Result<Vec<Value>, MemberError> {
    let decls = store::declarations(db, crm).await?;
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        let row = store::load(db, crm, id).await?;
        out.push(json!({ "identities": store::identities(db, crm, id).await?, "membership": row.view(&decls) }));
    }
    Ok(out)
}

/// `GET /loyalty/v1/membershipService/getMembershipByIdentity?type=&value=`: the member holding
/// the identity (the oldest, for a type several members may share), with its identities.
#[utoipa::path(get, path = "/loyalty/v1/membershipService/getMembershipByIdentity", tag = "members", params(super::commands::IdentityQuery), responses((status = 200, body = crate::routes::members::docs::MembershipWithIdentities)))]
pub async fn by_identity(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Result<ApiQuery<super::commands::IdentityQuery>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let (kind, value) = (q.kind, q.value);
    check_identity_type("type", &kind)?;
    let mut db = state.db.acquire().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "select member_id from member_identity where crm_id = $1 and type = $2 and value = $3 order by member_id limit 1",
    )
    .bind(&tenant.crm_id)
    .bind(&kind)
    .bind(&value)
    .fetch_optional(&mut *db)
    .await?;
    let id = id.ok_or_else(|| MemberError::NotFound("no membership holds this identity".into()))?;
    Ok(Json(with_identities(&mut db, &tenant.crm_id, &[id]).await?.remove(0)))
}

/// `POST /loyalty/v1/membershipService/listMembershipByIdentities`: every member holding one
/// of the identities, once each, in the order of the list.
#[utoipa::path(post, path = "/loyalty/v1/membershipService/listMembershipByIdentities", tag = "members", request_body = Vec<schemas::members::Identity>, responses((status = 200, body = crate::routes::members::docs::MembershipsWithIdentities)))]
pub async fn by_identities(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<Vec<Value>>, crate::error::ApiError>,
) -> Answer {
    let list = super::commands::body(b).await?;
    let identities = parse_identities("identities", &list)?;
    let (kinds, values): (Vec<String>, Vec<String>) = identities.into_iter().map(|i| (i.kind, i.value)).unzip();
    let mut db = state.db.acquire().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "select member_id from (
           select i.member_id, min(t.n) as n from unnest($2::text[], $3::text[]) with ordinality as t(k, v, n)
           join member_identity i on i.crm_id = $1 and i.type = t.k and i.value = t.v
           group by i.member_id) f order by n, member_id",
    )
    .bind(&tenant.crm_id)
    .bind(&kinds)
    .bind(&values)
    .fetch_all(&mut *db)
    .await?;
    Ok(Json(json!({ "rows": with_identities(&mut db, &tenant.crm_id, &ids).await? })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Md5Query {
    /// common | tmall
    pub md5type: String,
    /// 32 hex digits (either case).
    pub md5value: String,
}

#[derive(sqlx::FromRow)]
struct Md5Row {
    id: i64,
    created_at: DateTime<Utc>,
    member_id: i64,
    updated_at: DateTime<Utc>,
    value: String,
    kind_of: String,
}

/// `GET /loyalty/v1/membershipService/getMembershipIdentityByMd5`: the identity whose value
/// has this MD5 (an index on the stored digest). Not found: HTTP 200 with `409200`, as the
/// seed shows.
#[utoipa::path(get, path = "/loyalty/v1/membershipService/getMembershipIdentityByMd5", tag = "members", params(Md5Query), responses((status = 200, body = crate::routes::members::docs::Md5Answer, description = "the identity, or not found: the seed's error 409200 with HTTP 200")))]
pub async fn by_md5(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    q: Result<ApiQuery<Md5Query>, crate::error::ApiError>,
) -> Result<Response, MemberError> {
    let ApiQuery(q) = q?;
    let kind = q.md5type;
    if kind != "common" && kind != "tmall" {
        return Err(MemberError::invalid("md5type", "must be common or tmall"));
    }
    let digest = q.md5value.to_ascii_lowercase();
    if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MemberError::invalid("md5value", "must be 32 hex digits"));
    }
    let row: Option<Md5Row> = sqlx::query_as(
        "select id, created_at, member_id, updated_at, value, type as kind_of from member_identity
         where crm_id = $1 and md5 = $2 order by id limit 1",
    )
    .bind(&tenant.crm_id)
    .bind(&digest)
    .fetch_optional(&state.db)
    .await?;
    let Some(Md5Row { id, created_at: created, member_id, updated_at: updated, value, kind_of }) = row else {
        return Ok(MemberError::Md5NotFound.into_response());
    };
    Ok(Json(json!({
        "id": id, "tenantId": tenant.crm_id, "dateCreated": format_datetime(created), "membershipId": member_id,
        "lastUpdated": format_datetime(updated), "md5type": kind, "value": value, "type": kind_of, "md5value": digest,
    }))
    .into_response())
}

/// The member's ledger key, or 404.
pub(crate) async fn member_no(state: &AppState, crm: &str, id: i64) -> Result<String, MemberError> {
    sqlx::query_scalar("select member_no from member where crm_id = $1 and id = $2")
        .bind(crm)
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| MemberError::NotFound(format!("membership {id} not found")))
}

/// The seed's `pattern` of a ledger row (积分增加 / 积分减少 codes).
fn pattern(event_type: &str, has_amount: bool) -> i64 {
    match event_type {
        "produce" if has_amount => 2,
        "produce" => 3,
        "consume" => 1,
        "reverse_produce" => 2,
        "expire" => 6,
        "reverse_consume" | "settle_debt" => 5,
        _ => 0,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct PointRow {
    auto_id: i64,
    event_no: String,
    action_scene: String,
    event_type: String,
    amount_cents: Option<i64>,
    points: i64,
    expire_time: Option<DateTime<Utc>>,
    campagin_code: Option<String>,
    event_desc: Option<String>,
    explain: Option<String>,
    reverse_status: i16,
    occurred_at: DateTime<Utc>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    new_point: i64,
    left_point: Option<i64>,
}

/// The point log's `remark`: the row's description and why it is what it is (seed 001/004's
/// rules and the arithmetic), `; `-separated; either alone when the other is absent.
fn remark(desc: Option<&str>, explain: Option<&str>) -> Option<String> {
    match (desc, explain) {
        (Some(d), Some(e)) => Some(format!("{d}; {e}")),
        (d, e) => d.or(e).map(str::to_string),
    }
}

/// `GET /loyalty/v1/membership/{id}/point`: the member's point log from the ledger. `oldPoint`
/// and `newPoint` are the member's points before and after the row (freezes move no points
/// and are not listed); `leftPoint` is what is left of a credit's lot now (for a debit, the
/// points after it); `type` 1 a credit, -1 a debit; `status` -1 once (partly) reversed.
#[utoipa::path(get, path = "/loyalty/v1/membership/{id}/point", tag = "members", params(("id" = i64, Path), Paging), responses((status = 200, body = crate::routes::members::docs::PointLogPage)))]
pub async fn point_log(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<Paging>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let page = page_of(&q, LOG_SIDX)?;
    let crm = &tenant.crm_id;
    let no = member_no(&state, crm, id).await?;
    let dir = if page.desc { "desc" } else { "asc" };
    let rows: Vec<PointRow> = sqlx::query_as(&format!(
        // What is left of a credit: its lots among the member's live ones (lots have no index by
        // event, migration 20261204000001), summed only for the page's rows (in the outer query,
        // which PostgreSQL evaluates after the limit, not for every row of the history).
        "select t.*,
                (select sum(p.remaining)::bigint from points_lot p
                 where p.crm_id = $1 and p.member_no = $2 and p.remaining > 0 and p.event_no = t.event_no
                   and t.event_type = 'produce' and p.rule_id is not distinct from t.rule_id) as left_point
         from (
           select l.auto_id, l.event_no, l.action_scene, l.event_type, l.amount_cents, l.points, l.expire_time,
                  l.campagin_code, l.event_desc, l.explain, l.reverse_status, l.occurred_at, l.create_time, l.update_time,
                  l.rule_id, (sum(l.points) over (order by l.auto_id))::bigint as new_point
           from points_ledger l
           where l.crm_id = $1 and l.member_no = $2 and l.event_type not in ('freeze', 'unfreeze')) t
         order by auto_id {dir} limit $3 offset $4"
    ))
    .bind(crm)
    .bind(&no)
    .bind(page.rows)
    .bind((page.page - 1) * page.rows)
    .fetch_all(&state.db)
    .await?;
    let records = if page.need_total {
        Some(
            sqlx::query_scalar(
                "select count(*) from points_ledger where crm_id = $1 and member_no = $2
                 and event_type not in ('freeze', 'unfreeze')",
            )
            .bind(crm)
            .bind(&no)
            .fetch_one(&state.db)
            .await?,
        )
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| {
            let sign = if r.points >= 0 { 1 } else { -1 };
            json!({
                "id": r.auto_id, "contentName": null, "campaignId": r.campagin_code,
                "date": format_datetime(r.occurred_at), "dateCreated": format_datetime(r.create_time),
                "lastUpdated": format_datetime(r.update_time),
                "leftPoint": if sign > 0 { r.left_point.unwrap_or(0) } else { r.new_point },
                "pattern": pattern(&r.event_type, r.amount_cents.is_some()), "source": r.action_scene,
                "newPoint": r.new_point, "oldPoint": r.new_point - r.points, "point": r.points.abs(),
                "tenantId": crm, "membershipId": id, "type": sign,
                "status": if r.reverse_status > 0 { -1 } else { 0 },
                "expireDate": r.expire_time.map(format_datetime), "remark": remark(r.event_desc.as_deref(), r.explain.as_deref()), "externalId": r.event_no,
            })
        })
        .collect();
    Ok(Json(paged(items, records, &page)))
}

#[derive(sqlx::FromRow)]
struct ExpRow {
    auto_id: i64,
    event_no: String,
    points: i64,
    new_exp: i64,
    occurred_at: DateTime<Utc>,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    event_desc: Option<String>,
}

/// `GET /loyalty/v1/membership/{id}/exp/changeLogs`: the member's experience log. Experience
/// is the points the member has earned (never lowered by spending): each earn row adds its
/// points, each reversal of an earn takes them back.
#[utoipa::path(get, path = "/loyalty/v1/membership/{id}/exp/changeLogs", tag = "members", params(("id" = i64, Path), Paging), responses((status = 200, body = crate::routes::members::docs::ExpLogPage)))]
pub async fn exp_log(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<Paging>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let page = page_of(&q, LOG_SIDX)?;
    let crm = &tenant.crm_id;
    let no = member_no(&state, crm, id).await?;
    let dir = if page.desc { "desc" } else { "asc" };
    let rows: Vec<ExpRow> =
        sqlx::query_as(&format!(
            "select * from (
               select auto_id, event_no, points, (sum(points) over (order by auto_id))::bigint as new_exp,
                      occurred_at, create_time, update_time, event_desc
               from points_ledger where crm_id = $1 and member_no = $2 and event_type in ('produce', 'reverse_produce')) t
             order by auto_id {dir} limit $3 offset $4"
        ))
        .bind(crm)
        .bind(&no)
        .bind(page.rows)
        .bind((page.page - 1) * page.rows)
        .fetch_all(&state.db)
        .await?;
    let records = if page.need_total {
        Some(
            sqlx::query_scalar(
                "select count(*) from points_ledger where crm_id = $1 and member_no = $2
                 and event_type in ('produce', 'reverse_produce')",
            )
            .bind(crm)
            .bind(&no)
            .fetch_one(&state.db)
            .await?,
        )
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(
            |ExpRow {
                 auto_id,
                 event_no,
                 points,
                 new_exp,
                 occurred_at: occurred,
                 create_time: created,
                 update_time: updated,
                 event_desc: remark,
             }| {
                json!({
                    "id": auto_id, "tenantId": crm, "dateCreated": format_datetime(created), "membershipId": id,
                    "lastUpdated": format_datetime(updated), "expType": if points >= 0 { 1 } else { -1 },
                    "expValue": points.abs(), "oldExp": new_exp - points, "remark": remark,
                    "dateObtain": format_datetime(occurred), "externalId": event_no, "newExp": new_exp,
                })
            },
        )
        .collect();
    Ok(Json(paged(items, records, &page)))
}
