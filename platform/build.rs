//! Rebuild when a migration is added: `sqlx::migrate!` embeds `migrations/` but cannot tell
//! cargo to watch it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
