//! The members domain's worker side (seed 002): levels recomputed on the sweep's schedule as
//! their windows slide. (A member's level on an earn is recomputed by the earn itself, in its
//! transaction: `points::earn`; the computation is `platform::levels`.)

pub mod levels;
