//! Points handlers (seed 000). One file per message kind, plus what they share.

pub mod adjust;
pub mod consume;
pub mod earn;
pub mod freeze;
pub mod ledger;
pub mod reverse;
pub mod sweep;
pub mod transfer;
