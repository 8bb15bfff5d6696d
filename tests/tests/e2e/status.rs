//! The status enums of `platform::status` against the real PostgreSQL: every state binds,
//! comes back and decodes to itself (one value and arrays, as the batch statements bind them),
//! and a stored value no variant names is a decode error rather than a wrong state.

use loyalty_tests::TestEnv;
use platform::status::{
    CodeStatus, InboxStatus, LedgerEventType, PresentStatus, ReverseStatus, RollbackStatus, TransferStatus,
};
use sqlx::{postgres::PgHasArrayType, Decode, Encode, PgPool, Postgres, Type};

/// Binds each state as `cast`, selects it back one by one and as an array, and checks the
/// decoded values are the states bound.
async fn round_trip<T>(db: &PgPool, cast: &str, states: &[T])
where
    T: for<'r> Decode<'r, Postgres> + for<'q> Encode<'q, Postgres> + Type<Postgres> + PgHasArrayType,
    T: Copy + PartialEq + std::fmt::Debug + Send + Sync + Unpin + 'static,
{
    for &state in states {
        let back: T = sqlx::query_scalar(&format!("select $1::{cast}")).bind(state).fetch_one(db).await.unwrap();
        assert_eq!(back, state, "{cast}");
    }
    let back: Vec<T> =
        sqlx::query_scalar(&format!("select unnest($1::{cast}[])")).bind(states).fetch_all(db).await.unwrap();
    assert_eq!(back, states, "{cast}[]");
}

#[tokio::test]
async fn every_state_round_trips_through_postgres() {
    let env = TestEnv::new().await;
    let db = &env.db;

    round_trip(db, "text", InboxStatus::ALL).await;
    round_trip(db, "text", PresentStatus::ALL).await;
    round_trip(db, "text", TransferStatus::ALL).await;
    round_trip(db, "text", LedgerEventType::ALL).await;
    round_trip(
        db,
        "smallint",
        &[
            CodeStatus::InStock,
            CodeStatus::Available,
            CodeStatus::Presenting,
            CodeStatus::Redeemed,
            CodeStatus::Expired,
            CodeStatus::Obsolete,
        ],
    )
    .await;
    round_trip(db, "smallint", &[RollbackStatus::Standing, RollbackStatus::Restored, RollbackStatus::Expired]).await;
    round_trip(db, "smallint", &[ReverseStatus::None, ReverseStatus::Partly, ReverseStatus::Fully]).await;

    // The words are the stored ones: a literal written in SQL decodes to its variant.
    let applied: InboxStatus = sqlx::query_scalar("select 'applied'::text").fetch_one(db).await.unwrap();
    assert_eq!(applied, InboxStatus::Applied);
    let redeemed: CodeStatus = sqlx::query_scalar("select 3::smallint").fetch_one(db).await.unwrap();
    assert_eq!(redeemed, CodeStatus::Redeemed);

    // A value no variant names is an error, not some state.
    let unknown = sqlx::query_scalar::<_, LedgerEventType>("select 'expired'::text").fetch_one(db).await;
    assert!(unknown.is_err(), "{unknown:?}");
    let unknown = sqlx::query_scalar::<_, CodeStatus>("select 9::smallint").fetch_one(db).await;
    assert!(unknown.is_err(), "{unknown:?}");

    env.cleanup().await;
}
