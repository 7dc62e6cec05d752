//! Names shared between the connect(2) tracer programs and their userspace loader.
#![no_std]

/// Per-CPU counter map with a single `u64` slot: number of connect(2) calls seen.
pub const CONNECTS_MAP: &str = "CONNECTS";

/// Index of the single counter slot in `CONNECTS`.
pub const CONNECTS_INDEX: u32 = 0;

/// Tracepoint program (`syscalls/sys_enter_connect`).
pub const TRACEPOINT_PROGRAM: &str = "sys_enter_connect";
/// Tracepoint category and name the tracepoint program attaches to.
pub const TRACEPOINT_CATEGORY: &str = "syscalls";
pub const TRACEPOINT_NAME: &str = "sys_enter_connect";

/// Kprobe program, attached to the arch-specific syscall wrapper
/// (`__x64_sys_connect`, `__arm64_sys_connect`, ...).
pub const KPROBE_PROGRAM: &str = "sys_connect_kprobe";
