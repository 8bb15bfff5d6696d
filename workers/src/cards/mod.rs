//! Card handlers (seed 003): one file per message kind, the Redis code pool, and the counter
//! lock they share.

pub mod generate;
pub mod pool;
pub mod present;
pub mod receive;
pub mod redeem;

/// Creates the member's counter row for the card if needed and locks it; returns `used`. The
/// lock serialises one member's operations on one card (claims lock the same rows, in bulk).
pub(crate) async fn lock_counter(
    tx: &mut sqlx::PgConnection,
    crm_id: &str,
    member_no: &str,
    card_id: &str,
) -> sqlx::Result<i32> {
    sqlx::query!(
        "insert into card_member (crm_id, member_no, card_id) values ($1, $2, $3) on conflict do nothing",
        crm_id,
        member_no,
        card_id,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar!(
        "select used from card_member where crm_id = $1 and member_no = $2 and card_id = $3 for update",
        crm_id,
        member_no,
        card_id,
    )
    .fetch_one(&mut *tx)
    .await
}
