//! `workers verify`: the ledger invariants, checked per member.
//!
//! A member's balance must equal the sum of their lot remainders and the signed sum of their
//! ledger (freeze / unfreeze rows aside); their escrow must equal their pending transfers; no
//! balance or debt is negative. A violation is printed with the numbers.

use platform::status::{LedgerEventType, TransferStatus};
use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub crm_id: String,
    pub member_no: String,
    pub balance: i64,
    pub lots: i64,
    pub ledger: i64,
    /// Points the member has in escrow, and the sum of their pending transfers: equal.
    pub escrow: i64,
    pub pending_transfers: i64,
}

/// Every member whose balance, lots and ledger disagree (optionally of one tenant).
/// Every tenant, in order (what `workers verify` checks one by one).
pub async fn tenants(db: &PgPool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select crm_id from tenant order by crm_id").fetch_all(db).await
}

pub async fn violations(db: &PgPool, crm_id: Option<&str>) -> sqlx::Result<Vec<Violation>> {
    sqlx::query_as!(
        Violation,
        r#"with lots as (select crm_id, member_no, sum(remaining)::bigint as lots from points_lot
                       where $1::text is null or crm_id = $1 group by crm_id, member_no),
              -- freeze / unfreeze rows move points between frozen and available: not a holding change.
              ledger as (select crm_id, member_no, sum(points)::bigint as ledger from points_ledger
                         where ($1::text is null or crm_id = $1) and event_type <> all($2)
                         group by crm_id, member_no),
              pending as (select crm_id, from_member as member_no, sum(points)::bigint as pending from points_transfer
                          where ($1::text is null or crm_id = $1) and status = $3 group by crm_id, from_member)
         select b.crm_id, b.member_no, b.points as balance,
                coalesce(l.lots, 0) as "lots!", coalesce(g.ledger, 0) as "ledger!",
                b.escrow, coalesce(p.pending, 0) as "pending_transfers!"
         from member_balance b
         left join lots l using (crm_id, member_no)
         left join ledger g using (crm_id, member_no)
         left join pending p using (crm_id, member_no)
         where ($1::text is null or b.crm_id = $1)
           and (b.points <> coalesce(l.lots, 0) or b.points <> coalesce(g.ledger, 0) or b.escrow <> coalesce(p.pending, 0)
                or b.points < 0 or b.debt < 0)
         order by b.crm_id, b.member_no"#,
        crm_id,
        &[LedgerEventType::Freeze, LedgerEventType::Unfreeze] as _,
        TransferStatus::Pending as _,
    )
    .fetch_all(db)
    .await
}
