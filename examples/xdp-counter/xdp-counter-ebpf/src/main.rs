//! XDP program that counts every packet it sees and passes it on.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::PerCpuArray,
    programs::XdpContext,
};
use xdp_counter_common::PACKETS_INDEX;

/// One `u64` slot per CPU; userspace sums the slots.
#[map]
static PACKETS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[xdp]
pub fn xdp_counter(_ctx: XdpContext) -> u32 {
    if let Some(count) = PACKETS.get_ptr_mut(PACKETS_INDEX) {
        // Per-CPU slot: no other CPU writes it, so a plain add is race free.
        unsafe { *count += 1 };
    }
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
