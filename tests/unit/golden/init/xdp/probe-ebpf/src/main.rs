//! xdp program `probe`; every invocation bumps a per-CPU counter and
//! logs a line with aya-log (userspace prints it).
#![no_std]
#![no_main]

use aya_ebpf::{macros::map, maps::PerCpuArray};
use aya_log_ebpf::info;
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

use aya_ebpf::{
    bindings::xdp_action, helpers::bpf_get_smp_processor_id, macros::xdp, maps::RingBuf,
    programs::XdpContext,
};
use probe_common::Event;

/// Events for userspace, one per packet: how real programs report what they see (a counter
/// says how often, an event says what). Userspace reads them as they come.
#[map]
static RING_EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024, 0);

#[xdp]
pub fn probe(ctx: XdpContext) -> u32 {
    info!(&ctx, "received a packet");
    count();
    let event = Event {
        len: (ctx.data_end() - ctx.data()) as u32,
        cpu: unsafe { bpf_get_smp_processor_id() },
    };
    // fails only when the ring is full (userspace is behind): the event is dropped
    let _ = RING_EVENTS.output::<Event>(&event, 0);
    xdp_action::XDP_PASS
}


// not under `cfg(test)`: a test build links std, which has its own panic handler
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
