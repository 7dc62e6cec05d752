//! Shared between the eBPF program and userspace: `#[repr(C)]` types and map names.
#![no_std]

/// Name of the per-CPU array the program counts its events in.
pub const EVENTS_MAP: &str = "EVENTS";
/// The single slot of that array.
pub const EVENTS_INDEX: u32 = 0;

/// Name of the ring buffer a program sends `Event`s through (the xdp template has one;
/// userspace reads it when the object has it).
pub const RING_EVENTS_MAP: &str = "RING_EVENTS";

/// One event as the program sends it (a shared `#[repr(C)]` type: both sides agree on it).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Event {
    /// bytes of the packet
    pub len: u32,
    /// the CPU that saw it
    pub cpu: u32,
}
