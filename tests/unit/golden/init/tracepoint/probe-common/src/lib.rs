//! Shared between the eBPF program and userspace: `#[repr(C)]` types and map names.
#![no_std]

/// Name of the per-CPU array the program counts its events in.
pub const EVENTS_MAP: &str = "EVENTS";
/// The single slot of that array.
pub const EVENTS_INDEX: u32 = 0;

/// One event as the program sees it (an example of a shared `#[repr(C)]` type).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub pid: u32,
    pub cpu: u32,
}
