//! Card stock generation: a task (`card_generate`) asks for `quantity` codes; the workers write
//! them in chunks of 10,000, one transaction per chunk, and count them on the task under its
//! row lock. A worker that dies mid-way leaves the count where it stopped; whoever picks the
//! task up next (its redelivered message, or the sweeper's resume of a stale task) continues
//! from there. Two workers never run one task at once (`FOR UPDATE SKIP LOCKED`).

use rand::Rng;
use sqlx::PgPool;

use crate::outcome::{ApplyError, Outcome, Refusal};

const CHUNK: i32 = 10_000;
/// 32 symbols without 0/O and 1/I, which cashiers misread.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 16 symbols: 80 random bits, so guessing a valid code is hopeless and collisions are rare
/// (and retried when they happen).
const CODE_LEN: usize = 16;

pub(crate) fn new_code(rng: &mut impl Rng) -> String {
    (0..CODE_LEN).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Runs a task to its end. `Duplicate` when another worker holds it right now.
pub async fn run(db: &PgPool, crm_id: &str, card_id: &str, generate_id: &str) -> Result<Outcome, ApplyError> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let task = sqlx::query!(
            "select quantity, generated from card_generate where crm_id = $1 and card_id = $2 and generate_id = $3
             for update skip locked",
            crm_id,
            card_id,
            generate_id,
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.quantity, r.generated));
        let Some((quantity, generated)) = task else {
            let exists = sqlx::query_scalar!(
                r#"select exists (select 1 from card_generate where crm_id = $1 and card_id = $2 and generate_id = $3) as "exists!""#,
                crm_id,
                card_id,
                generate_id,
            )
            .fetch_one(&mut *tx)
            .await?;
            return Ok(if exists {
                Outcome::Duplicate
            } else {
                Outcome::refused(Refusal::NotFound, format!("no generation task {generate_id} for card {card_id}"))
            });
        };
        if generated >= quantity {
            sqlx::query!(
                "update card_generate set is_generated = true where crm_id = $1 and card_id = $2 and generate_id = $3",
                crm_id,
                card_id,
                generate_id,
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            platform::db::refresh_statistics(db, "card_code").await;
            return Ok(Outcome::Applied { count: total });
        }
        let n = CHUNK.min(quantity - generated);
        let mut written = 0;
        while written < n {
            let codes: Vec<String> = {
                let mut rng = rand::rng();
                (0..(n - written)).map(|_| new_code(&mut rng)).collect()
            };
            let done = sqlx::query!(
                "insert into card_code (crm_id, card_id, card_code, generate_id)
                 select $1, $2, unnest($4::text[]), $3
                 on conflict do nothing",
                crm_id,
                card_id,
                generate_id,
                &codes[..],
            )
            .execute(&mut *tx)
            .await?;
            written += done.rows_affected() as i32;
        }
        sqlx::query!(
            "update card_generate set generated = generated + $4, is_generated = (generated + $4 = quantity), updated_at = now()
             where crm_id = $1 and card_id = $2 and generate_id = $3",
            crm_id,
            card_id,
            generate_id,
            n,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        total += i64::from(n);
        metrics::counter!(platform::metric_names::CARDS_CODES_GENERATED_TOTAL).increment(n as u64);
    }
}

/// Tasks left unfinished (their worker died, or their message was lost) and untouched for a
/// minute, resumed by the sweeper. Returns how many codes it wrote.
/// (Wall-clock time: staleness is about workers, not business time.)
pub async fn resume_stale(db: &PgPool) -> Result<i64, ApplyError> {
    let stale = sqlx::query!(
        "select crm_id, card_id, generate_id from card_generate
         where not is_generated and updated_at < now() - interval '1 minute' order by auto_id limit 10",
    )
    .fetch_all(db)
    .await?;
    let mut written = 0;
    for task in stale {
        if let Outcome::Applied { count } = run(db, &task.crm_id, &task.card_id, &task.generate_id).await? {
            written += count;
        }
    }
    Ok(written)
}
