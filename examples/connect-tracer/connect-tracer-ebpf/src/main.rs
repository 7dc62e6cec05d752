//! Counts connect(2) calls, either from the `syscalls/sys_enter_connect`
//! tracepoint or from a kprobe on the arch-specific syscall wrapper
//! (`__x64_sys_connect` / `__arm64_sys_connect`). Userspace loads only one.
#![no_std]
#![no_main]

use aya_ebpf::{
    macros::{kprobe, map, tracepoint},
    maps::PerCpuArray,
    programs::{ProbeContext, TracePointContext},
};
use connect_tracer_common::CONNECTS_INDEX;

/// One `u64` slot per CPU; userspace sums the slots.
#[map]
static CONNECTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn count_connect() {
    if let Some(count) = CONNECTS.get_ptr_mut(CONNECTS_INDEX) {
        // Per-CPU slot: no other CPU writes it, so a plain add is race free.
        unsafe { *count += 1 };
    }
}

#[tracepoint(category = "syscalls", name = "sys_enter_connect")]
pub fn sys_enter_connect(_ctx: TracePointContext) -> u32 {
    count_connect();
    0
}

/// Attached to `__<arch>_sys_connect`. The syscall arguments are behind the
/// `struct pt_regs *` in the wrapper's first argument; only calls are counted,
/// so they are not decoded.
#[kprobe]
pub fn sys_connect_kprobe(_ctx: ProbeContext) -> u32 {
    count_connect();
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
