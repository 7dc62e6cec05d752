//! tracepoint program `probe`; every invocation bumps a per-CPU counter.
#![no_std]
#![no_main]

use aya_ebpf::{macros::map, maps::PerCpuArray};
use probe_common::EVENTS_INDEX;

/// One `u64` per CPU; userspace sums the slots.
#[map]
static EVENTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn count() {
    if let Some(slot) = EVENTS.get_ptr_mut(EVENTS_INDEX) {
        // per-CPU slot: no other CPU writes it
        unsafe { *slot += 1 };
    }
}

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};

/// Runs on the tracepoint `syscalls/sys_enter_openat`.
#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn probe(_ctx: TracePointContext) -> u32 {
    count();
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
