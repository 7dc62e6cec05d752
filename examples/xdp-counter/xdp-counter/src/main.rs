//! Userspace loader for the `xdp-counter` eBPF program.
//!
//! Usage: `xdp-counter [--iface IFACE] [--seconds N]`
//!
//! Attaches the XDP program to IFACE (default `lo`) in generic (SKB) mode,
//! sends a few UDP datagrams to 127.0.0.1 so that there is traffic on `lo`,
//! waits N seconds (default 1), prints `packets: <count>` and detaches.

use std::{
    net::UdpSocket,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{Xdp, XdpMode},
};
use xdp_counter_common::{PACKETS_INDEX, PACKETS_MAP};

const USAGE: &str = "usage: xdp-counter [--iface IFACE] [--seconds N]";

struct Args {
    iface: String,
    seconds: u64,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        iface: "lo".to_owned(),
        seconds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = |name: &str| -> anyhow::Result<String> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) => Ok(v),
                None => bail!("{name} needs a value\n{USAGE}"),
            }
        };
        match flag.as_str() {
            "-i" | "--iface" => args.iface = value("--iface")?,
            "-s" | "--seconds" => {
                let v = value("--seconds")?;
                args.seconds = v
                    .parse()
                    .with_context(|| format!("--seconds: not a number: {v:?}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(args))
}

/// Sends a handful of UDP datagrams to ourselves over 127.0.0.1, so `lo` sees traffic.
fn generate_loopback_traffic() -> anyhow::Result<()> {
    let rx = UdpSocket::bind("127.0.0.1:0").context("binding UDP receiver")?;
    let tx = UdpSocket::bind("127.0.0.1:0").context("binding UDP sender")?;
    let dst = rx.local_addr()?;
    for i in 0u8..8 {
        tx.send_to(&[i; 16], dst).context("sending UDP datagram")?;
    }
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    let mut ebpf = Ebpf::load(aya::include_bytes_aligned!(concat!(
        env!("BUILDBPF_OBJECTS"),
        "/xdp-counter"
    )))
    .context("loading the eBPF object")?;

    let program: &mut Xdp = ebpf
        .program_mut("xdp_counter")
        .context("program xdp_counter not found in the object")?
        .try_into()?;
    program.load().context("loading xdp_counter into the kernel")?;
    program
        .attach(&args.iface, XdpMode::Skb)
        .with_context(|| format!("attaching XDP (SKB mode) to {}", args.iface))?;
    println!("attached xdp_counter to {} (SKB mode)", args.iface);

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    if args.iface == "lo" {
        generate_loopback_traffic()?;
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    std::thread::sleep(remaining);

    let packets: PerCpuArray<_, u64> = PerCpuArray::try_from(
        ebpf.map(PACKETS_MAP)
            .with_context(|| format!("map {PACKETS_MAP} not found"))?,
    )?;
    let total: u64 = packets.get(&PACKETS_INDEX, 0)?.iter().sum();
    println!("packets: {total}");

    // Dropping `ebpf` detaches and unloads the program.
    drop(ebpf);
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| match args {
        Some(args) => run(args),
        None => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xdp-counter: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
