//! Points handlers (seed 000). One file per message kind.

pub mod earn;
