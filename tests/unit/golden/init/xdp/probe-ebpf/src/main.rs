//! xdp program `probe`; every invocation bumps a per-CPU counter.
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

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

#[xdp]
pub fn probe(_ctx: XdpContext) -> u32 {
    count();
    xdp_action::XDP_PASS
}


#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
