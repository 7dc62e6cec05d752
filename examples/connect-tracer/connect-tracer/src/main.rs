//! Userspace loader for the `connect-tracer` eBPF programs.
//!
//! Usage: `connect-tracer [--seconds N] [--mode auto|tracepoint|kprobe]`
//!
//! Picks the attach point for the running kernel (`--mode auto`, the default):
//!
//! 1. the `syscalls/sys_enter_connect` tracepoint when tracefs exposes it
//!    (`/sys/kernel/tracing/...` or `/sys/kernel/debug/tracing/...`);
//! 2. else a kprobe on the arch-specific syscall wrapper (`__x64_sys_connect`,
//!    `__arm64_sys_connect`, ...) if `/proc/kallsyms` lists it and the kernel
//!    has the kprobe PMU (`CONFIG_KPROBES`);
//! 3. else, if the kernel supports tracefs but it is not mounted, mounts tracefs
//!    at `/sys/kernel/tracing` in a private mount namespace of this process
//!    (nothing changes for the rest of the system) and retries the tracepoint.
//!
//! While attached it makes one TCP connection to a listener it opened on
//! 127.0.0.1, waits N seconds (default 1), prints
//! `connects: <count> (via <attach point>)` and detaches.

use std::{
    fs::File,
    io::{BufRead as _, BufReader},
    net::{TcpListener, TcpStream},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::PerCpuArray,
    programs::{KProbe, TracePoint},
};
use connect_tracer_common::{
    CONNECTS_INDEX, CONNECTS_MAP, KPROBE_PROGRAM, TRACEPOINT_CATEGORY, TRACEPOINT_NAME,
    TRACEPOINT_PROGRAM,
};

const USAGE: &str = "usage: connect-tracer [--seconds N] [--mode auto|tracepoint|kprobe]";

const TRACEFS_ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Present when the kernel can create kprobes through `perf_event_open` (what aya uses).
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe/type";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    Tracepoint,
    Kprobe,
}

struct Args {
    seconds: u64,
    mode: Mode,
}

enum AttachPoint {
    Tracepoint,
    Kprobe(&'static str),
}

impl std::fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tracepoint => write!(f, "tracepoint {TRACEPOINT_CATEGORY}/{TRACEPOINT_NAME}"),
            Self::Kprobe(symbol) => write!(f, "kprobe {symbol}"),
        }
    }
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = Args {
        seconds: 1,
        mode: Mode::Auto,
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
            "-s" | "--seconds" => {
                let v = value("--seconds")?;
                args.seconds = v
                    .parse()
                    .with_context(|| format!("--seconds: not a number: {v:?}"))?;
            }
            "-m" | "--mode" => {
                args.mode = match value("--mode")?.as_str() {
                    "auto" => Mode::Auto,
                    "tracepoint" => Mode::Tracepoint,
                    "kprobe" => Mode::Kprobe,
                    other => bail!("--mode: expected auto, tracepoint or kprobe, got {other:?}"),
                }
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

/// The syscall wrapper symbol for connect(2) on this architecture.
fn syscall_wrapper() -> anyhow::Result<&'static str> {
    Ok(match std::env::consts::ARCH {
        "x86_64" => "__x64_sys_connect",
        "aarch64" => "__arm64_sys_connect",
        "riscv64" => "__riscv_sys_connect",
        "s390x" => "__s390x_sys_connect",
        "powerpc64" => "sys_connect",
        other => bail!("no known connect(2) syscall wrapper for architecture {other}"),
    })
}

fn tracepoint_available() -> bool {
    TRACEFS_ROOTS.iter().any(|root| {
        Path::new(root)
            .join("events")
            .join(TRACEPOINT_CATEGORY)
            .join(TRACEPOINT_NAME)
            .exists()
    })
}

/// Whether `/proc/kallsyms` lists a symbol called exactly `symbol`.
fn kallsyms_has(symbol: &str) -> anyhow::Result<bool> {
    let file = File::open("/proc/kallsyms").context("opening /proc/kallsyms")?;
    for line in BufReader::new(file).lines() {
        let line = line.context("reading /proc/kallsyms")?;
        // "<address> <type> <name> [module]"
        if line.split_whitespace().nth(2) == Some(symbol) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn kprobes_supported() -> bool {
    Path::new(KPROBE_PMU).exists()
}

/// Whether the kernel knows the `tracefs` filesystem.
fn tracefs_supported() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|s| s.lines().any(|l| l.split_whitespace().last() == Some("tracefs")))
        .unwrap_or(false)
}

/// Mounts tracefs at `/sys/kernel/tracing` in a new, private mount namespace
/// of this process only. Must run before any thread is spawned.
fn mount_private_tracefs() -> anyhow::Result<()> {
    fn check(ret: libc::c_int, what: &str) -> anyhow::Result<()> {
        if ret == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error()).context(what.to_owned())
        }
    }
    // SAFETY: plain syscalls with valid NUL-terminated strings; single-threaded here.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare(CLONE_NEWNS)")?;
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "making / a private mount",
        )?;
        check(
            libc::mount(
                c"tracefs".as_ptr(),
                c"/sys/kernel/tracing".as_ptr(),
                c"tracefs".as_ptr(),
                0,
                std::ptr::null(),
            ),
            "mounting tracefs at /sys/kernel/tracing",
        )?;
    }
    Ok(())
}

fn choose_attach_point(mode: Mode) -> anyhow::Result<AttachPoint> {
    if mode != Mode::Kprobe && tracepoint_available() {
        return Ok(AttachPoint::Tracepoint);
    }
    let mut why_not_kprobe = String::new();
    if mode != Mode::Tracepoint {
        let symbol = syscall_wrapper()?;
        if !kallsyms_has(symbol)? {
            why_not_kprobe = format!("{symbol} is not in /proc/kallsyms");
        } else if !kprobes_supported() {
            why_not_kprobe = format!("kernel has no kprobe support ({KPROBE_PMU} missing)");
        } else {
            return Ok(AttachPoint::Kprobe(symbol));
        }
        if mode == Mode::Kprobe {
            bail!("cannot use kprobe: {why_not_kprobe}");
        }
    }
    // The tracepoint may just be invisible because tracefs is not mounted.
    if tracefs_supported() && !Path::new("/sys/kernel/tracing/events").exists() {
        mount_private_tracefs()?;
        println!("mounted tracefs at /sys/kernel/tracing in a private mount namespace");
        if tracepoint_available() {
            return Ok(AttachPoint::Tracepoint);
        }
    }
    let tracepoint = format!(
        "tracepoint {TRACEPOINT_CATEGORY}/{TRACEPOINT_NAME} not found under {}",
        TRACEFS_ROOTS.join(" or ")
    );
    if why_not_kprobe.is_empty() {
        bail!("{tracepoint}");
    }
    bail!("no attach point: {tracepoint}, and {why_not_kprobe}")
}

/// Makes one TCP connection to a listener on 127.0.0.1 owned by this process.
fn connect_once() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding TCP listener")?;
    let addr = listener.local_addr()?;
    let _stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .with_context(|| format!("connecting to {addr}"))?;
    Ok(())
}

fn run(args: Args) -> anyhow::Result<()> {
    let attach_point = choose_attach_point(args.mode)?;

    let mut ebpf = Ebpf::load(aya::include_bytes_aligned!(concat!(
        env!("BUILDBPF_OBJECTS"),
        "/connect-tracer"
    )))
    .context("loading the eBPF object")?;

    match attach_point {
        AttachPoint::Tracepoint => {
            let program: &mut TracePoint = ebpf
                .program_mut(TRACEPOINT_PROGRAM)
                .with_context(|| format!("program {TRACEPOINT_PROGRAM} not found"))?
                .try_into()?;
            program
                .load()
                .with_context(|| format!("loading {TRACEPOINT_PROGRAM}"))?;
            program
                .attach(TRACEPOINT_CATEGORY, TRACEPOINT_NAME)
                .with_context(|| format!("attaching {attach_point}"))?;
        }
        AttachPoint::Kprobe(symbol) => {
            let program: &mut KProbe = ebpf
                .program_mut(KPROBE_PROGRAM)
                .with_context(|| format!("program {KPROBE_PROGRAM} not found"))?
                .try_into()?;
            program
                .load()
                .with_context(|| format!("loading {KPROBE_PROGRAM}"))?;
            program
                .attach(symbol, 0)
                .with_context(|| format!("attaching {attach_point}"))?;
        }
    }
    println!("attached via {attach_point}");

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    connect_once()?;
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));

    let connects: PerCpuArray<_, u64> = PerCpuArray::try_from(
        ebpf.map(CONNECTS_MAP)
            .with_context(|| format!("map {CONNECTS_MAP} not found"))?,
    )?;
    let total: u64 = connects.get(&CONNECTS_INDEX, 0)?.iter().sum();
    println!("connects: {total} (via {attach_point})");

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
            eprintln!("connect-tracer: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
