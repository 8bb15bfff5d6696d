//! Profile and identity writes (seed 002 §2, §4, §6, §9, §14) and erasure: synchronous SQL, one
//! transaction each. Handlers log ids only: values may be personal data.

use axum::{extract::State, Extension, Json};
use schemas::members::{check_mobile, check_profile, Identity, ProfileWrite};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{error::MemberId, store, MemberError};
use crate::{
    auth::Tenant,
    error::{ApiJson, ApiQuery},
    AppState,
};

type Answer = Result<Json<Value>, MemberError>;

/// A body as JSON, its rejections in the seed's error shape.
pub(crate) async fn body<T>(b: Result<ApiJson<T>, crate::error::ApiError>) -> Result<T, MemberError> {
    b.map(|ApiJson(v)| v).map_err(MemberError::from)
}

/// Parses identities from a JSON list, naming the bad one (`identities[1].type`).
pub(crate) fn parse_identities(field: &str, list: &[Value]) -> Result<Vec<Identity>, MemberError> {
    if list.is_empty() {
        return Err(MemberError::Missing(field.into()));
    }
    if list.len() > 100 {
        return Err(MemberError::invalid(field, "at most 100 identities"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Some(obj) = v.as_object() else { return Err(MemberError::invalid(at, "must be {type, value, name}")) };
        for key in ["type", "value"] {
            match obj.get(key) {
                None | Some(Value::Null) => return Err(MemberError::Missing(format!("{at}.{key}"))),
                Some(Value::String(_)) => {}
                Some(_) => return Err(MemberError::invalid(format!("{at}.{key}"), "must be a text")),
            }
        }
        let identity: Identity = serde_json::from_value(v.clone())
            .map_err(|_| MemberError::invalid(format!("{at}.name"), "must be a text"))?;
        identity.validate(&at)?;
        out.push(identity);
    }
    Ok(out)
}

/// The one mobile a write names, from the profile and from its identities; two different ones
/// are refused.
fn the_mobile(write: &ProfileWrite, identities: &[Identity]) -> Result<Option<Option<String>>, MemberError> {
    let mut mobile = write.text("mobile").map(|m| m.map(str::to_string));
    for i in identities.iter().filter(|i| i.kind == "mobile") {
        match &mobile {
            Some(Some(m)) if *m != i.value => {
                return Err(MemberError::invalid("identities", "two different mobiles for one member"))
            }
            _ => mobile = Some(Some(i.value.clone())),
        }
    }
    Ok(mobile)
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    #[serde(default)]
    membership: Option<Map<String, Value>>,
    #[serde(default)]
    identities: Option<Vec<Value>>,
}

/// `POST /loyalty/v1/membershipAndIdentities`: a member and its identities (both required).
#[utoipa::path(post, path = "/loyalty/v1/membershipAndIdentities", tag = "members", request_body = crate::routes::members::docs::CreateRequest, responses((status = 200, body = crate::routes::members::docs::Membership)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<CreateBody>, crate::error::ApiError>,
) -> Answer {
    let b = body(b).await?;
    let membership = b.membership.ok_or_else(|| MemberError::Missing("membership".into()))?;
    let identities = parse_identities("identities", &b.identities.unwrap_or_default())?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let decls = store::declarations(&mut tx, crm).await?;
    let write = check_profile(&membership, &decls)?;
    let mobile = the_mobile(&write, &identities)?;
    let id = store::insert(&mut tx, crm, &write).await?;
    if let Some(m) = mobile.flatten() {
        store::set_mobile(&mut tx, crm, id, Some(&m)).await?;
    }
    for i in identities.iter().filter(|i| i.kind != "mobile") {
        store::add_identity(&mut tx, crm, id, &i.kind, &i.value, i.name.as_deref()).await?;
    }
    // The first level: the highest the member meets (a tenant's base level has no rules).
    let member_no = store::load(&mut tx, crm, id).await?.member_no;
    platform::levels::recompute(&mut tx, crm, &[member_no], "join", chrono::Utc::now()).await?;
    let row = store::load(&mut tx, crm, id).await?;
    tx.commit().await?;
    tracing::info!(membership_id = id, identities = identities.len(), "member created");
    Ok(Json(row.view(&decls)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UpdateQuery {
    /// `true`: also overwrite `source`, `contentName` and `campaignId` when already set.
    #[serde(default, rename = "forceUpdate")]
    pub force_update: Option<bool>,
}

/// `PUT /loyalty/v1/membership/{id}?forceUpdate=`: the attributes the body names.
#[utoipa::path(put, path = "/loyalty/v1/membership/{id}", tag = "members", params(("id" = i64, Path), UpdateQuery), request_body(content = Object, description = "the attributes to set"), responses((status = 200, body = crate::routes::members::docs::Membership)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<UpdateQuery>, crate::error::ApiError>,
    b: Result<ApiJson<Map<String, Value>>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let profile = body(b).await?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let decls = store::declarations(&mut tx, crm).await?;
    let write = check_profile(&profile, &decls)?;
    let before = store::load(&mut tx, crm, id).await?;
    if let (Some(old), Some(new)) = (&before.membership_code, write.text("membership_code")) {
        if Some(old.as_str()) != new {
            return Err(MemberError::Conflict("membershipCode cannot change once set (it keys the ledger)".into()));
        }
    }
    store::update(&mut tx, crm, id, &write, q.force_update.unwrap_or(false)).await?;
    if let Some(mobile) = write.text("mobile") {
        store::set_mobile(&mut tx, crm, id, mobile).await?;
        if store::identity_count(&mut tx, crm, id).await? == 0 {
            return Err(MemberError::LastIdentity);
        }
    }
    let row = store::load(&mut tx, crm, id).await?;
    tx.commit().await?;
    tracing::info!(membership_id = id, "member updated");
    Ok(Json(row.view(&decls)))
}

/// `POST /loyalty/v1/membership/{id}/bindIdentity`: binds identities; a `mobile` becomes the
/// member's mobile (another member's is refused, 409).
#[utoipa::path(post, path = "/loyalty/v1/membership/{id}/bindIdentity", tag = "members", params(("id" = i64, Path)), request_body = Vec<schemas::members::Identity>, responses((status = 200, body = Vec<crate::routes::members::docs::IdentityView>)))]
pub async fn bind_identity(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    b: Result<ApiJson<Vec<Value>>, crate::error::ApiError>,
) -> Answer {
    let list = body(b).await?;
    let identities = parse_identities("identities", &list)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    store::load(&mut tx, crm, id).await?;
    let mobile = the_mobile(&ProfileWrite::default(), &identities)?;
    if let Some(m) = mobile.flatten() {
        store::set_mobile(&mut tx, crm, id, Some(&m)).await?;
    }
    for i in &identities {
        store::add_identity(&mut tx, crm, id, &i.kind, &i.value, i.name.as_deref()).await?;
    }
    tx.commit().await?;
    tracing::info!(membership_id = id, identities = identities.len(), "identities bound");
    Ok(Json(Value::Array(
        identities.iter().map(|i| json!({"name": i.name, "type": i.kind, "value": i.value})).collect(),
    )))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMobile {
    #[serde(default)]
    pub old_mobile: Option<String>,
    #[serde(default)]
    pub new_mobile: Option<String>,
    #[serde(default)]
    pub membership_id: Option<i64>,
}

/// `PUT /loyalty/v1/membershipService/updateMobile`.
#[utoipa::path(put, path = "/loyalty/v1/membershipService/updateMobile", tag = "members", request_body = UpdateMobile, responses((status = 200, body = crate::routes::members::docs::Membership)))]
pub async fn update_mobile(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    b: Result<ApiJson<UpdateMobile>, crate::error::ApiError>,
) -> Answer {
    let b = body(b).await?;
    let id = b.membership_id.ok_or_else(|| MemberError::Missing("membershipId".into()))?;
    let old = b.old_mobile.ok_or_else(|| MemberError::Missing("oldMobile".into()))?;
    let new = b.new_mobile.ok_or_else(|| MemberError::Missing("newMobile".into()))?;
    check_mobile("newMobile", &new)?;
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let before = store::load(&mut tx, crm, id).await?;
    if before.mobile.as_deref() != Some(old.as_str()) {
        return Err(MemberError::Conflict("oldMobile is not the member's mobile".into()));
    }
    store::set_mobile(&mut tx, crm, id, Some(&new)).await?;
    let decls = store::declarations(&mut tx, crm).await?;
    let row = store::load(&mut tx, crm, id).await?;
    tx.commit().await?;
    tracing::info!(membership_id = id, "mobile updated");
    Ok(Json(row.view(&decls)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentityQuery {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// `DELETE /loyalty/v1/membership/identity/{membershipId}?type=&value=`: not the last one
/// (409224); a missing one 409225; deleting the mobile clears the member's `mobile`.
#[utoipa::path(delete, path = "/loyalty/v1/membership/identity/{id}", tag = "members", params(("id" = i64, Path), IdentityQuery), responses((status = 200, body = crate::routes::members::docs::Success), (status = 409, body = crate::routes::members::docs::CompatError, description = "409224 the last identity, 409225 no such identity")))]
pub async fn delete_identity(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
    q: Result<ApiQuery<IdentityQuery>, crate::error::ApiError>,
) -> Answer {
    let ApiQuery(q) = q?;
    let (kind, value) = (q.kind, q.value);
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    // Locks the member: two concurrent deletes cannot both see "not the last one".
    let locked: Option<i64> = sqlx::query_scalar("select id from member where crm_id = $1 and id = $2 for update")
        .bind(crm)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    if locked.is_none() {
        return Err(MemberError::NotFound(format!("membership {id} not found")));
    }
    let deleted =
        sqlx::query("delete from member_identity where crm_id = $1 and member_id = $2 and type = $3 and value = $4")
            .bind(crm)
            .bind(id)
            .bind(&kind)
            .bind(&value)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if deleted == 0 {
        return Err(MemberError::IdentityNotFound);
    }
    if store::identity_count(&mut tx, crm, id).await? == 0 {
        return Err(MemberError::LastIdentity);
    }
    if kind == "mobile" {
        sqlx::query("update member set mobile = null, updated_at = now() where crm_id = $1 and id = $2")
            .bind(crm)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    tracing::info!(membership_id = id, identity_type = %kind, "identity deleted");
    Ok(Json(json!({"result": "success"})))
}

/// The pseudonymous key an erased member's ledger rows keep: no personal data, stable, not
/// reversible without the member_no. The profile's id is part of it: a member_no erased, used
/// again by a new profile and erased again gets a second pseudonym (the first one's balance row
/// would otherwise collide).
pub fn pseudonym(crm_id: &str, member_no: &str, id: i64) -> String {
    let digest = hex::encode(Sha256::digest(format!("{crm_id}\u{1f}{member_no}\u{1f}{id}").as_bytes()));
    format!("erased-{}", &digest[..32])
}

/// `POST /loyalty/v1/membership/{id}/erase` (ours: the seed has none): deletes the profile and
/// its identities, re-keys the member's ledger, balance, lots and cards to a pseudonym, and
/// records the erasure. The answer names the pseudonym.
#[utoipa::path(post, path = "/loyalty/v1/membership/{id}/erase", tag = "members", params(("id" = i64, Path)), responses((status = 200, body = crate::routes::members::docs::Erased)))]
pub async fn erase(
    State(state): State<AppState>,
    Extension(tenant): Extension<Tenant>,
    MemberId(id): MemberId,
) -> Answer {
    let crm = &tenant.crm_id;
    let mut tx = state.db.begin().await?;
    let member_no: Option<String> =
        sqlx::query_scalar("select member_no from member where crm_id = $1 and id = $2 for update")
            .bind(crm)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let member_no = member_no.ok_or_else(|| MemberError::NotFound(format!("membership {id} not found")))?;
    let alias = pseudonym(crm, &member_no, id);
    // The member's balance row first: a worker applying an event of this member locks it too.
    for statement in [
        "update member_balance set member_no = $3 where crm_id = $1 and member_no = $2",
        "update points_lot set member_no = $3 where crm_id = $1 and member_no = $2",
        "update points_ledger set member_no = $3 where crm_id = $1 and member_no = $2",
        "update lot_take set member_no = $3 where crm_id = $1 and member_no = $2",
        "update inbox set member_no = $3 where crm_id = $1 and member_no = $2",
        "update points_transfer set from_member = $3 where crm_id = $1 and from_member = $2",
        "update points_transfer set to_member = $3 where crm_id = $1 and to_member = $2",
        "update card_code set member_no = $3 where crm_id = $1 and member_no = $2",
        "update card_member set member_no = $3 where crm_id = $1 and member_no = $2",
        "update card_redeem set member_no = $3 where crm_id = $1 and member_no = $2",
        "update card_present set from_member = $3 where crm_id = $1 and from_member = $2",
        "update card_present set to_member = $3 where crm_id = $1 and to_member = $2",
        "update card_code_expired set member_no = $3 where crm_id = $1 and member_no = $2",
    ] {
        sqlx::query(statement).bind(crm).bind(&member_no).bind(&alias).execute(&mut *tx).await?;
    }
    sqlx::query("delete from member where crm_id = $1 and id = $2").bind(crm).bind(id).execute(&mut *tx).await?;
    sqlx::query("insert into member_erasure (crm_id, member_id, pseudonym) values ($1, $2, $3)")
        .bind(crm)
        .bind(id)
        .bind(&alias)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(membership_id = id, "member erased");
    Ok(Json(json!({"result": "success", "membershipId": id, "pseudonym": alias})))
}
