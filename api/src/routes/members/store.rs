//! The members domain's SQL: reading a member as seed 002 shows it, the tenant's attribute
//! declarations, identities, and the mobile (the profile's `mobile` and the `mobile` identity are
//! one value, written together).

use chrono::{DateTime, Utc};
use schemas::members::{format_datetime, AttributeDecl, AttributeType, BuiltinValue, ProfileWrite, BUILTIN};
use serde_json::{json, Map, Value};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::MemberError;

/// The columns of [`MemberRow`], over `member m` left-joined to `member_level l`. `point` is the
/// member's available points now (lots neither frozen, expired nor spent).
pub const MEMBER_COLUMNS: &str = "m.id, m.membership_code, m.member_no, m.name, m.family_name, m.given_name,
    m.customer_id, m.id_card, m.address, m.education_backgro, m.img, m.gender::bigint as gender, m.mobile, m.email,
    m.birthday, m.date_join, m.create_method, m.create_channel, m.industry, m.income, m.balance::float8 as balance,
    m.referrer, m.source, m.content_name, m.campaign_id, m.country, m.province, m.city, m.county, m.custom,
    m.created_at, m.updated_at, l.id as level_id, l.name as level_name, l.priority::bigint as level_priority,
    coalesce((select sum(p.remaining) from points_lot p
              where p.crm_id = m.crm_id and p.member_no = m.member_no and p.remaining > 0 and p.expired_at is null
                and p.expire_time > now() and (p.unfreeze_time is null or p.unfreeze_time <= now())), 0)::bigint as point";

pub const MEMBER_FROM: &str = "from member m left join member_level l on l.crm_id = m.crm_id and l.id = m.level_id";

#[derive(Debug, sqlx::FromRow)]
pub struct MemberRow {
    pub id: i64,
    pub membership_code: Option<String>,
    pub member_no: String,
    name: Option<String>,
    family_name: Option<String>,
    given_name: Option<String>,
    customer_id: Option<String>,
    id_card: Option<String>,
    address: Option<String>,
    education_backgro: Option<String>,
    img: Option<String>,
    gender: Option<i64>,
    pub mobile: Option<String>,
    email: Option<String>,
    birthday: Option<String>,
    date_join: DateTime<Utc>,
    create_method: Option<String>,
    create_channel: Option<String>,
    industry: Option<String>,
    income: Option<String>,
    balance: Option<f64>,
    referrer: Option<String>,
    source: Option<String>,
    content_name: Option<String>,
    campaign_id: Option<String>,
    country: Option<String>,
    province: Option<String>,
    city: Option<String>,
    county: Option<String>,
    custom: sqlx::types::Json<Map<String, Value>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    level_id: Option<i64>,
    level_name: Option<String>,
    level_priority: Option<i64>,
    point: i64,
}

impl MemberRow {
    /// The member as seed 002 shows it: every built-in, then every declared `c_` attribute
    /// (null when the member has no value).
    pub fn view(&self, decls: &[AttributeDecl]) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "familyName": self.family_name, "givenName": self.given_name,
            "customerId": self.customer_id, "membershipCode": self.membership_code, "idCard": self.id_card,
            "address": self.address, "educationBackgro": self.education_backgro, "img": self.img,
            "gender": self.gender, "mobile": self.mobile, "email": self.email, "birthday": self.birthday,
            "dateJoin": format_datetime(self.date_join), "createMethod": self.create_method,
            "createChannel": self.create_channel, "industry": self.industry, "income": self.income,
            "balance": self.balance, "referrer": self.referrer, "lastUpdated": format_datetime(self.updated_at),
            "level": self.level_id.map(|id| json!({"id": id, "name": self.level_name, "priority": self.level_priority})),
            "point": self.point, "source": self.source, "contentName": self.content_name,
            "campaignId": self.campaign_id, "country": self.country, "province": self.province, "city": self.city,
            "county": self.county, "dateCreated": format_datetime(self.created_at),
        });
        let obj = v.as_object_mut().expect("an object");
        for d in decls {
            obj.insert(d.code.clone(), self.custom.0.get(&d.code).cloned().unwrap_or(Value::Null));
        }
        v
    }
}

/// A tenant's declared attributes, by code.
pub async fn declarations(db: &mut PgConnection, crm_id: &str) -> Result<Vec<AttributeDecl>, MemberError> {
    type DeclRow = (String, String, String, Option<sqlx::types::Json<Vec<String>>>);
    let rows: Vec<DeclRow> =
        sqlx::query_as("select code, name, type, options from member_attribute where crm_id = $1 order by code")
            .bind(crm_id)
            .fetch_all(&mut *db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(code, name, kind, options)| AttributeDecl {
            code,
            name,
            kind: AttributeType::parse(&kind).unwrap_or(AttributeType::Text),
            options: options.map(|o| o.0),
        })
        .collect())
}

/// One member of the tenant, or 404.
pub async fn load(db: &mut PgConnection, crm_id: &str, id: i64) -> Result<MemberRow, MemberError> {
    sqlx::query_as::<_, MemberRow>(&format!("select {MEMBER_COLUMNS} {MEMBER_FROM} where m.crm_id = $1 and m.id = $2"))
        .bind(crm_id)
        .bind(id)
        .fetch_optional(&mut *db)
        .await?
        .ok_or_else(|| MemberError::NotFound(format!("membership {id} not found")))
}

/// A member's identities, oldest first.
pub async fn identities(db: &mut PgConnection, crm_id: &str, member_id: i64) -> Result<Vec<Value>, MemberError> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "select type, value, name from member_identity where crm_id = $1 and member_id = $2 order by id",
    )
    .bind(crm_id)
    .bind(member_id)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows.into_iter().map(|(t, v, n)| json!({"name": n, "type": t, "value": v})).collect())
}

fn push_value(b: &mut QueryBuilder<'_, Postgres>, value: &BuiltinValue) {
    match value {
        BuiltinValue::Text(t) => b.push_bind(t.clone()),
        BuiltinValue::Int(i) => b.push_bind(*i).push("::smallint"),
        BuiltinValue::Number(n) => b.push_bind(*n).push("::numeric"),
        BuiltinValue::Time(t) => b.push_bind(*t),
    };
}

/// Inserts a member; answers its id. `mobile` is written by [`set_mobile`], not here.
pub async fn insert(db: &mut PgConnection, crm_id: &str, write: &ProfileWrite) -> Result<i64, MemberError> {
    let mut b = QueryBuilder::<Postgres>::new("insert into member (crm_id, custom");
    let columns: Vec<(&str, &BuiltinValue)> = BUILTIN
        .iter()
        .filter_map(|(_, col, _)| write.builtins.get(col).map(|v| (*col, v)))
        .filter(|(col, v)| *col != "mobile" && !(*col == "date_join" && **v == BuiltinValue::Time(None)))
        .collect();
    let default_method = !write.builtins.contains_key("create_method");
    for (col, _) in &columns {
        b.push(", ").push(*col);
    }
    if default_method {
        b.push(", create_method");
    }
    b.push(") values (").push_bind(crm_id.to_string()).push(", ").push_bind(sqlx::types::Json(&write.custom));
    for (_, v) in &columns {
        b.push(", ");
        push_value(&mut b, v);
    }
    if default_method {
        // What DM Hub records for a member created through the API.
        b.push(", '外部系统导入'");
    }
    b.push(") returning id");
    Ok(b.build_query_scalar::<i64>().fetch_one(&mut *db).await?)
}

/// Updates a member's profile. Without `force`, `source`, `contentName` and `campaignId` are
/// only set where empty. `mobile` is written by [`set_mobile`], not here.
pub async fn update(
    db: &mut PgConnection,
    crm_id: &str,
    id: i64,
    write: &ProfileWrite,
    force: bool,
) -> Result<(), MemberError> {
    let mut b = QueryBuilder::<Postgres>::new("update member set updated_at = now(), custom = custom || ");
    b.push_bind(sqlx::types::Json(&write.custom));
    for (_, col, _) in BUILTIN {
        let Some(v) = write.builtins.get(col) else { continue };
        if *col == "mobile" || (*col == "date_join" && *v == BuiltinValue::Time(None)) {
            continue;
        }
        b.push(format!(", {col} = "));
        let keep_first = !force && ["source", "content_name", "campaign_id"].contains(col);
        if keep_first {
            b.push(format!("coalesce({col}, "));
        }
        push_value(&mut b, v);
        if keep_first {
            b.push(")");
        }
    }
    b.push(" where crm_id = ").push_bind(crm_id.to_string()).push(" and id = ").push_bind(id);
    b.build().execute(&mut *db).await?;
    Ok(())
}

/// Sets (or clears) a member's mobile: the profile's `mobile` and its one `mobile` identity
/// together. Another member's mobile answers 409 (the unique indexes decide, so two concurrent
/// binds of one mobile have one winner).
pub async fn set_mobile(
    db: &mut PgConnection,
    crm_id: &str,
    member_id: i64,
    mobile: Option<&str>,
) -> Result<(), MemberError> {
    sqlx::query("update member set mobile = $3, updated_at = now() where crm_id = $1 and id = $2")
        .bind(crm_id)
        .bind(member_id)
        .bind(mobile)
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "delete from member_identity where crm_id = $1 and member_id = $2 and type = 'mobile'
           and ($3::text is null or value <> $3)",
    )
    .bind(crm_id)
    .bind(member_id)
    .bind(mobile)
    .execute(&mut *db)
    .await?;
    if let Some(m) = mobile {
        add_identity(db, crm_id, member_id, "mobile", m, None).await?;
    }
    Ok(())
}

/// Binds one identity (a repeated bind changes nothing but the name).
pub async fn add_identity(
    db: &mut PgConnection,
    crm_id: &str,
    member_id: i64,
    kind: &str,
    value: &str,
    name: Option<&str>,
) -> Result<(), MemberError> {
    sqlx::query(
        "insert into member_identity (crm_id, member_id, type, value, name) values ($1, $2, $3, $4, $5)
         on conflict (crm_id, type, value, member_id)
         do update set name = coalesce(excluded.name, member_identity.name), updated_at = now()",
    )
    .bind(crm_id)
    .bind(member_id)
    .bind(kind)
    .bind(value)
    .bind(name)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// The member's identity count: a write must leave at least one.
pub async fn identity_count(db: &mut PgConnection, crm_id: &str, member_id: i64) -> Result<i64, MemberError> {
    Ok(sqlx::query_scalar("select count(*) from member_identity where crm_id = $1 and member_id = $2")
        .bind(crm_id)
        .bind(member_id)
        .fetch_one(&mut *db)
        .await?)
}
