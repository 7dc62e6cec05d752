//! Types shared between the XDP program and its userspace loader.
#![no_std]

/// Name of the per-CPU packet counter map (one `u64` slot per CPU).
pub const PACKETS_MAP: &str = "PACKETS";

/// Index of the single counter slot in `PACKETS`.
pub const PACKETS_INDEX: u32 = 0;
