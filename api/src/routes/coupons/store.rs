//! The coupon routes' SQL: which cards and codes a request names (small statements returning
//! ids), then the one statement each that loads cards and held codes by id for the views.

use chrono::{DateTime, Utc};
use platform::status::CodeStatus;
use serde_json::Value;
use sqlx::PgConnection;

use super::view::{CardFields, CouponRow, HeldRow};

/// The cards `ids` (`card_info.coupon_id`) of `crm_id`, in the order of `ids`.
pub async fn coupons(db: &mut PgConnection, crm_id: &str, ids: &[i64]) -> sqlx::Result<Vec<CouponRow>> {
    let rows = sqlx::query!(
        r#"select c.coupon_id, c.card_id, c.card_type, c.title, c.subtitle, c.notice, c.date_type, c.begin_time, c.end_time,
                  c.start_day_count, c.expire_day_count, c.total_quantity, c.get_limit, c.cash_amount_cents,
                  c.cash_condition_cents, c.discount, c.qty_condition, c.store_codes, c.use_with_other_offer,
                  c.use_with_other_coupon, c.extra_info,
                  coalesce((select sum(g.generated) from card_generate g where g.crm_id = c.crm_id and g.card_id = c.card_id), 0)::bigint as "generated!",
                  (select count(*) from card_code k where k.crm_id = c.crm_id and k.card_id = c.card_id and k.status = $3) as "in_stock!"
           from card_info c where c.crm_id = $1 and c.coupon_id = any($2)"#,
        crm_id,
        ids,
        CodeStatus::InStock as _,
    )
    .fetch_all(&mut *db)
    .await?;
    let mut out: Vec<(i64, CouponRow)> = rows
        .into_iter()
        .map(|r| {
            (
                r.coupon_id,
                CouponRow {
                    card: CardFields {
                        card_id: r.card_id,
                        card_type: r.card_type,
                        title: r.title,
                        subtitle: r.subtitle,
                        notice: r.notice,
                        cash_amount_cents: r.cash_amount_cents,
                        cash_condition_cents: r.cash_condition_cents,
                        discount: r.discount,
                        qty_condition: r.qty_condition,
                        store_codes: r.store_codes,
                        use_with_other_offer: r.use_with_other_offer,
                        use_with_other_coupon: r.use_with_other_coupon,
                        extra_info: r.extra_info,
                    },
                    date_type: r.date_type,
                    begin_time: r.begin_time,
                    end_time: r.end_time,
                    start_day_count: r.start_day_count,
                    expire_day_count: r.expire_day_count,
                    total_quantity: r.total_quantity,
                    get_limit: r.get_limit,
                    generated: r.generated,
                    in_stock: r.in_stock,
                },
            )
        })
        .collect();
    out.sort_by_key(|(id, _)| ids.iter().position(|i| i == id));
    Ok(out.into_iter().map(|(_, row)| row).collect())
}

/// A page of the tenant's live (not removed) cards by `coupon_id`, and how many there are.
pub async fn coupon_page(
    db: &mut PgConnection,
    crm_id: &str,
    limit: i64,
    offset: i64,
    desc: bool,
) -> sqlx::Result<Vec<i64>> {
    if desc {
        sqlx::query_scalar!(
            "select coupon_id from card_info where crm_id = $1 and not removed order by coupon_id desc limit $2 offset $3",
            crm_id,
            limit,
            offset,
        )
        .fetch_all(&mut *db)
        .await
    } else {
        sqlx::query_scalar!(
            "select coupon_id from card_info where crm_id = $1 and not removed order by coupon_id limit $2 offset $3",
            crm_id,
            limit,
            offset,
        )
        .fetch_all(&mut *db)
        .await
    }
}

pub async fn count_coupons(db: &mut PgConnection, crm_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from card_info where crm_id = $1 and not removed"#, crm_id)
        .fetch_one(&mut *db)
        .await
}

/// The card `card_id`'s `coupon_id` (removed cards too: codes members hold keep naming them).
pub async fn coupon_by_card(db: &mut PgConnection, crm_id: &str, card_id: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar!("select coupon_id from card_info where crm_id = $1 and card_id = $2", crm_id, card_id)
        .fetch_optional(&mut *db)
        .await
}

/// The live cards with a channel `channel` (and, when given, that channel's `couponId`): the
/// channels `extra_info.channels` lists, or the one derived from `store_codes`
/// (`schemas::coupons::channels` says the same in Rust).
pub async fn coupons_by_channel(
    db: &mut PgConnection,
    crm_id: &str,
    channel: &str,
    coupon_id: Option<&str>,
) -> sqlx::Result<Vec<i64>> {
    let wanted: Value = match coupon_id {
        Some(id) => serde_json::json!([{ "couponChannel": channel, "couponId": id }]),
        None => serde_json::json!([{ "couponChannel": channel }]),
    };
    sqlx::query_scalar!(
        r#"select coupon_id from card_info c
           where c.crm_id = $1 and not c.removed and case
             when jsonb_typeof(c.extra_info -> 'channels') = 'array' then (c.extra_info -> 'channels') @> $2
             else (case when btrim(coalesce(c.store_codes, ''), ' ,，') <> '' then 'offline' else 'online' end) = $3
                  and ($4::text is null or c.card_id = $4)
           end
           order by coupon_id"#,
        crm_id,
        wanted,
        channel,
        coupon_id,
    )
    .fetch_all(&mut *db)
    .await
}

/// Held codes by `code_id`, with their cards, in the order of `ids`.
pub async fn held(db: &mut PgConnection, crm_id: &str, ids: &[i64]) -> sqlx::Result<Vec<HeldRow>> {
    let rows = sqlx::query!(
        r#"select k.code_id, k.card_code, k.status, k.received_at, k.valid_begin, k.valid_end,
                  m.id as "membership_id?", r.redeemed_at as "redeemed_at?",
                  c.card_id, c.card_type, c.title, c.subtitle, c.notice, c.cash_amount_cents, c.cash_condition_cents,
                  c.discount, c.qty_condition, c.store_codes, c.use_with_other_offer, c.use_with_other_coupon, c.extra_info
           from card_code k
           join card_info c on c.crm_id = k.crm_id and c.card_id = k.card_id
           left join member m on m.crm_id = k.crm_id and m.member_no = k.member_no
           left join card_redeem r on r.crm_id = k.crm_id and r.redeem_id = k.redeem_id
           where k.crm_id = $1 and k.code_id = any($2)"#,
        crm_id,
        ids,
    )
    .fetch_all(&mut *db)
    .await?;
    let mut out: Vec<(i64, HeldRow)> = rows
        .into_iter()
        .map(|r| {
            (
                r.code_id,
                HeldRow {
                    card: CardFields {
                        card_id: r.card_id,
                        card_type: r.card_type,
                        title: r.title,
                        subtitle: r.subtitle,
                        notice: r.notice,
                        cash_amount_cents: r.cash_amount_cents,
                        cash_condition_cents: r.cash_condition_cents,
                        discount: r.discount,
                        qty_condition: r.qty_condition,
                        store_codes: r.store_codes,
                        use_with_other_offer: r.use_with_other_offer,
                        use_with_other_coupon: r.use_with_other_coupon,
                        extra_info: r.extra_info,
                    },
                    card_code: r.card_code,
                    status: r.status,
                    received_at: r.received_at,
                    valid_begin: r.valid_begin,
                    valid_end: r.valid_end,
                    membership_id: r.membership_id,
                    redeemed_at: r.redeemed_at,
                },
            )
        })
        .collect();
    out.sort_by_key(|(id, _)| ids.iter().position(|i| i == id));
    Ok(out.into_iter().map(|(_, row)| row).collect())
}

/// The codes a claim (`received_id`) issued.
pub async fn drawn(db: &mut PgConnection, crm_id: &str, received_id: &str) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        "select code_id from card_code where crm_id = $1 and received_id = $2 order by code_id",
        crm_id,
        received_id,
    )
    .fetch_all(&mut *db)
    .await
}

/// A held code by its code alone (DM Hub does not name the card). Should two cards hold the
/// same code, the one `member_no` holds comes first, then an available one, then the newest.
pub async fn code_by_text(
    db: &mut PgConnection,
    crm_id: &str,
    card_code: &str,
    member_no: Option<&str>,
) -> sqlx::Result<Option<(i64, String)>> {
    Ok(sqlx::query!(
        "select code_id, card_id from card_code
         where crm_id = $1 and card_code = $2 and member_no is not null
         order by (member_no = $3) desc nulls last, (status = $4) desc, received_at desc nulls last, code_id desc
         limit 1",
        crm_id,
        card_code,
        member_no,
        CodeStatus::Available as _,
    )
    .fetch_optional(&mut *db)
    .await?
    .map(|r| (r.code_id, r.card_id)))
}

/// Which of a member's codes `GET /membership/{id}/coupon?status=` lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HeldFilter {
    All = 0,
    /// Available and valid at the time given.
    Normal = 1,
    Used = 2,
    /// Available, valid only later.
    NotStarted = 3,
}

/// A page of a member's codes (in draw order) and, when asked, how many there are.
pub async fn held_page(
    db: &mut PgConnection,
    crm_id: &str,
    member_no: &str,
    filter: HeldFilter,
    now: DateTime<Utc>,
    (limit, offset, desc): (i64, i64, bool),
    need_total: bool,
) -> sqlx::Result<(Vec<i64>, Option<i64>)> {
    let f = filter as i16;
    // One statement for the four filters: the member's codes are few, read through the
    // (crm_id, member_no, status) index, so the filter costs nothing worth a statement each.
    let ids = sqlx::query_scalar!(
        "select code_id from card_code k
         where k.crm_id = $1 and k.member_no = $2 and case $3::smallint
           when 1 then k.status = $4 and (k.valid_begin is null or k.valid_begin <= $6) and (k.valid_end is null or k.valid_end >= $6)
           when 2 then k.status = $5
           when 3 then k.status = $4 and k.valid_begin > $6
           else true end
         order by case when $7 then k.received_at end desc nulls last, case when $7 then k.code_id end desc,
                  k.received_at, k.code_id
         limit $8 offset $9",
        crm_id,
        member_no,
        f,
        CodeStatus::Available as _,
        CodeStatus::Redeemed as _,
        now,
        desc,
        limit,
        offset,
    )
    .fetch_all(&mut *db)
    .await?;
    let total = if need_total {
        Some(
            sqlx::query_scalar!(
                r#"select count(*) as "n!" from card_code k
                   where k.crm_id = $1 and k.member_no = $2 and case $3::smallint
                     when 1 then k.status = $4 and (k.valid_begin is null or k.valid_begin <= $6) and (k.valid_end is null or k.valid_end >= $6)
                     when 2 then k.status = $5
                     when 3 then k.status = $4 and k.valid_begin > $6
                     else true end"#,
                crm_id,
                member_no,
                f,
                CodeStatus::Available as _,
                CodeStatus::Redeemed as _,
                now,
            )
            .fetch_one(&mut *db)
            .await?,
        )
    } else {
        None
    };
    Ok((ids, total))
}
