//! The orders domain's SQL in the api: naming the member of an order (creating it for an
//! unknown identity), reading an order with its lines and steps, and a member's points.

use chrono::{DateTime, Utc};
use schemas::{
    members::{check_profile, format_datetime, Identity},
    orders::MemberRef,
};
use serde_json::{json, Map, Value};
use sqlx::PgConnection;

use crate::{routes::members::store as members, routes::members::MemberError, AppState};

/// The member an order names: (membershipId, member_no).
pub struct Named {
    pub id: i64,
    pub member_no: String,
}

/// The member of `membershipId`, or 404.
pub async fn member_by_id(db: &mut PgConnection, crm_id: &str, id: i64) -> Result<Named, MemberError> {
    let no = sqlx::query_scalar!(
        r#"select member_no as "member_no!" from member where crm_id = $1 and id = $2"#,
        crm_id,
        id
    )
    .fetch_optional(&mut *db)
    .await?
    .ok_or_else(|| MemberError::NotFound(format!("membership {id} not found")))?;
    Ok(Named { id, member_no: no })
}

/// The member holding the first of `identities` that anyone holds; nobody: a new member with
/// all of them (DM Hub's answer to an order from a new customer). Each identity is locked for
/// the transaction (an advisory lock on its type and value, in sorted order), so two concurrent
/// orders of one new customer create one member.
pub async fn member_by_identities(
    state: &AppState,
    crm_id: &str,
    identities: &[Identity],
) -> Result<Named, MemberError> {
    // Most orders are of known customers: found without a transaction or a lock (an order used
    // to hold a pooled connection for five round trips here, which bounded /deal at the pool's
    // size; issue 14). Only a new customer takes the locks, then looks again under them.
    if let Some(named) = first_holder(&mut *state.db.acquire().await?, crm_id, identities).await? {
        return Ok(named);
    }
    let mut tx = state.db.begin().await?;
    let mut locks: Vec<String> =
        identities.iter().map(|i| format!("{crm_id}\u{1f}{}\u{1f}{}", i.kind, i.value)).collect();
    locks.sort();
    locks.dedup();
    for l in &locks {
        sqlx::query!("select pg_advisory_xact_lock(hashtextextended($1, 7)) as locked", l).fetch_one(&mut *tx).await?;
    }
    if let Some(named) = first_holder(&mut tx, crm_id, identities).await? {
        tx.commit().await?;
        return Ok(named);
    }
    let decls = members::declarations(&mut tx, crm_id).await?;
    let mut profile = Map::new();
    profile.insert("createChannel".into(), json!("deal"));
    let write = check_profile(&profile, &decls)?;
    let id = members::insert(&mut tx, crm_id, &write).await?;
    for i in identities {
        if i.kind == "mobile" {
            members::set_mobile(&mut tx, crm_id, id, Some(&i.value)).await?;
        } else {
            members::add_identity(&mut tx, crm_id, id, &i.kind, &i.value, i.name.as_deref()).await?;
        }
    }
    let named = member_by_id(&mut tx, crm_id, id).await?;
    platform::levels::recompute(&mut tx, crm_id, std::slice::from_ref(&named.member_no), "join", Utc::now()).await?;
    tx.commit().await?;
    tracing::info!(membership_id = id, "member created by an order");
    Ok(named)
}

/// The member holding the first of `identities` that anyone holds (the lowest id if several):
/// `$1` the tenant, `$2` and `$3` the identities' types and values, in order.
///
/// Each identity is looked up first (its unique key), then the member holding it: two
/// `lateral` subqueries fenced by `offset 0`, so that the planner cannot turn the join around.
/// Written as plain joins, on a tenant's members not yet analyzed (new members in bulk, a
/// database without autovacuum) the plan walked all of the tenant's members and probed each
/// one's identities: 520 ms a lookup with 1,000 members, which held `/deal` to 29 orders/s
/// (issue 14, `bench --orders`). Public, and not a `query!`, so that a test can `EXPLAIN` it.
pub const FIRST_HOLDER: &str = "select m.id, m.member_no
     from unnest($2::text[], $3::text[]) with ordinality as t(kind, value, n)
     cross join lateral (select member_id from member_identity
                         where crm_id = $1 and type = t.kind and value = t.value offset 0) i
     cross join lateral (select id, member_no from member where crm_id = $1 and id = i.member_id offset 0) m
     order by t.n, m.id limit 1";

async fn first_holder(
    db: &mut PgConnection,
    crm_id: &str,
    identities: &[Identity],
) -> Result<Option<Named>, MemberError> {
    let (kinds, values): (Vec<&str>, Vec<&str>) =
        identities.iter().map(|i| (i.kind.as_str(), i.value.as_str())).unzip();
    let found: Option<(i64, String)> =
        sqlx::query_as(FIRST_HOLDER).bind(crm_id).bind(&kinds).bind(&values).fetch_optional(&mut *db).await?;
    Ok(found.map(|(id, member_no)| Named { id, member_no }))
}

/// Resolves `membershipId` or `identities` (checked as the members API checks them).
pub async fn resolve(state: &AppState, crm_id: &str, r: &MemberRef) -> Result<Named, MemberError> {
    match r {
        MemberRef::Id(id) => member_by_id(&mut *state.db.acquire().await?, crm_id, *id).await,
        MemberRef::Identities(list) => {
            let identities = crate::routes::members::commands::parse_identities("identities", list)?;
            member_by_identities(state, crm_id, &identities).await
        }
    }
}

/// The member's available points now (lots neither frozen, expired nor spent), as the member
/// answers show `point`.
pub async fn available_points(db: &mut PgConnection, crm_id: &str, member_no: &str) -> Result<i64, MemberError> {
    Ok(sqlx::query_scalar!(
        r#"select coalesce(sum(remaining), 0)::bigint as "points!" from points_lot
         where crm_id = $1 and member_no = $2 and remaining > 0 and expired_at is null and expire_time > now()
           and (unfreeze_time is null or unfreeze_time <= now())"#,
        crm_id,
        member_no,
    )
    .fetch_one(&mut *db)
    .await?)
}

/// An order as stored.
pub struct OrderRow {
    pub id: i64,
    pub order_no: String,
    pub member_no: String,
    pub membership_id: Option<i64>,
    pub state: String,
    pub header: Value,
    pub points_earned: i64,
    pub points_taken: i64,
    pub earn_note: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn order(db: &mut PgConnection, crm_id: &str, order_no: &str) -> Result<Option<OrderRow>, MemberError> {
    Ok(sqlx::query_as!(
        OrderRow,
        "select id, order_no, member_no, membership_id, state, header, points_earned, points_taken, earn_note, version,
                created_at, updated_at
         from deal where crm_id = $1 and order_no = $2",
        crm_id,
        order_no,
    )
    .fetch_optional(&mut *db)
    .await?)
}

/// The order, or 404 naming `orderNo`.
pub async fn existing(db: &mut PgConnection, crm_id: &str, order_no: &str) -> Result<OrderRow, MemberError> {
    order(db, crm_id, order_no).await?.ok_or_else(|| MemberError::NotFound(format!("orderNo {order_no} not found")))
}

/// The seed's word for a state.
pub fn state_word(state: &str) -> &'static str {
    match state {
        "paid" => "已付款",
        "cancelled" => "已取消",
        _ => "已删除",
    }
}

/// Amounts are carried in cents; the seed shows yuan.
fn yuan(v: &Value) -> Value {
    v.as_i64().map_or(Value::Null, |c| json!(c as f64 / 100.0))
}

/// A header or line with its amounts in yuan.
fn in_yuan(mut v: Value, fields: &[&str]) -> Value {
    if let Some(obj) = v.as_object_mut() {
        for f in fields {
            if let Some(x) = obj.get(*f).cloned() {
                obj.insert((*f).to_string(), yuan(&x));
            }
        }
    }
    v
}

/// The order's lines as the seed shows them, each with its share of the points and its refund.
pub async fn lines(db: &mut PgConnection, crm_id: &str, order_no: &str) -> Result<Vec<Value>, MemberError> {
    let rows = sqlx::query!(
        "select line, points, refund_key from deal_line where crm_id = $1 and order_no = $2 order by position",
        crm_id,
        order_no,
    )
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut l = in_yuan(r.line, &["priceUnit", "priceSubTotal"]);
            l["point"] = json!(r.points);
            l["refunded"] = json!(r.refund_key.is_some());
            l
        })
        .collect())
}

/// The order's steps, oldest first, each with its change to the member's points.
pub async fn steps(db: &mut PgConnection, crm_id: &str, order_no: &str) -> Result<Vec<Value>, MemberError> {
    let rows = sqlx::query!(
        "select step, idem_key, points, detail, undone_by, occurred_at, created_at from deal_step
         where crm_id = $1 and order_no = $2 order by id",
        crm_id,
        order_no,
    )
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut detail = r.detail;
            if let Some(obj) = detail.as_object_mut() {
                obj.remove("refundTotalCents");
            }
            json!({
                "step": r.step, "key": r.idem_key, "point": r.points, "detail": detail,
                "undoneBy": r.undone_by, "date": format_datetime(r.occurred_at),
                "dateCreated": format_datetime(r.created_at),
            })
        })
        .collect())
}

/// The whole order: the seed's answer fields, every header field as sent, the lines, the
/// points (`point` held now, `pointEarned`, `pointTaken`) and, with `with_steps`, its steps.
pub async fn view(db: &mut PgConnection, crm_id: &str, o: &OrderRow, with_steps: bool) -> Result<Value, MemberError> {
    let mut v = in_yuan(o.header.clone(), &["amountDiscount", "amountTotal", "amountPaid"]);
    v["membershipId"] = json!(o.membership_id);
    v["orderNo"] = json!(o.order_no);
    v["id"] = json!(o.id.to_string());
    v["dealLines"] = json!(lines(db, crm_id, &o.order_no).await?);
    v["state"] = json!(state_word(&o.state));
    v["point"] = json!(o.points_earned - o.points_taken);
    v["pointEarned"] = json!(o.points_earned);
    v["pointTaken"] = json!(o.points_taken);
    v["pointNote"] = json!(o.earn_note);
    v["dateCreated"] = json!(format_datetime(o.created_at));
    v["lastUpdated"] = json!(format_datetime(o.updated_at));
    let code = o.header.get("couponCode").and_then(Value::as_str);
    v["couponRedemption"] = super::coupon::outcome(db, crm_id, &o.order_no, code).await?;
    if with_steps {
        v["steps"] = json!(steps(db, crm_id, &o.order_no).await?);
    }
    Ok(v)
}
