//! `platform::copy_rows`: rows written by binary COPY read back as they were written, every type
//! it writes (NULLs, text beyond ASCII, negative numbers, times before PostgreSQL's epoch, to
//! the microsecond), and a COPY that breaks a constraint fails as an insert would, leaving the
//! connection usable.

use chrono::{DateTime, TimeZone, Utc};
use loyalty_tests::TestEnv;
use platform::copy_rows::CopyRows;
use serde_json::json;
use uuid::Uuid;

type Row =
    (String, Option<String>, i64, Option<i64>, DateTime<Utc>, Option<DateTime<Utc>>, Uuid, Option<serde_json::Value>);

#[tokio::test]
async fn copied_rows_read_back_as_written() {
    let env = TestEnv::new().await;
    let mut conn = env.db.acquire().await.unwrap();
    sqlx::query(
        "create table copied (n serial, t text not null, ot text, i bigint not null, oi bigint, at timestamptz not null,
                              oat timestamptz, u uuid not null, j jsonb, d timestamptz not null default now())",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    let micro = Utc.with_ymd_and_hms(2026, 11, 29, 23, 59, 58).unwrap() + chrono::Duration::microseconds(123_457);
    let before_epoch = Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap() + chrono::Duration::microseconds(1);
    let rows: Vec<Row> = vec![
        (
            "用户多了30积分,无冻结时间".into(),
            Some("".into()),
            -42,
            Some(i64::MAX),
            micro,
            Some(before_epoch),
            Uuid::from_u128(7),
            Some(json!({"sku": "a\"b\\c", "qty": 2, "nested": [1.5, null, "ü"]})),
        ),
        ("tab\tnew\nline \\N".into(), None, 0, None, before_epoch, None, Uuid::max(), None),
    ];
    let mut copy = CopyRows::new(8, rows.len(), 64);
    for r in &rows {
        copy.row()
            .text(&r.0)
            .opt_text(r.1.as_deref())
            .int8(r.2)
            .opt_int8(r.3)
            .timestamptz(r.4)
            .opt_timestamptz(r.5)
            .uuid(r.6)
            .opt_jsonb(r.7.as_ref());
    }
    assert_eq!(copy.len(), 2);
    let copied =
        copy.copy_in(&mut conn, "copy copied (t, ot, i, oi, at, oat, u, j) from stdin (format binary)").await.unwrap();
    assert_eq!(copied, 2);
    let back: Vec<Row> = sqlx::query_as("select t, ot, i, oi, at, oat, u, j from copied order by n")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(back, rows);
    // The columns left out take their defaults, as with an insert.
    let defaulted: i64 =
        sqlx::query_scalar("select count(*) from copied where d is not null").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(defaulted, 2);
    drop(conn);
    env.cleanup().await;
}

#[tokio::test]
async fn a_copy_that_breaks_a_unique_key_fails_like_an_insert_and_the_connection_goes_on() {
    let env = TestEnv::new().await;
    let mut conn = env.db.acquire().await.unwrap();
    sqlx::query("create table keyed (k text primary key)").execute(&mut *conn).await.unwrap();
    let mut copy = CopyRows::new(1, 3, 8);
    for k in ["a", "b", "a"] {
        copy.row().text(k);
    }
    let err = copy.copy_in(&mut conn, "copy keyed (k) from stdin (format binary)").await.unwrap_err();
    assert!(platform::db::is_unique_violation(&err, "keyed_pkey"), "{err}");
    // Nothing of the failed COPY stays, and the same connection answers the next statement.
    let n: i64 = sqlx::query_scalar("select count(*) from keyed").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(n, 0);
    drop(conn);
    env.cleanup().await;
}
