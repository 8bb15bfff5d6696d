//! Card handlers (seed 003). One file per message kind.

pub mod generate;
pub mod pool;
pub mod present;
pub mod receive;
pub mod redeem;
