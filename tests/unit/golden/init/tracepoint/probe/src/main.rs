//! Loads the verified `probe` object, attaches `probe` (tracepoint),
//! prints what the program logs (aya-log) and the events it sends, until Ctrl-C (or
//! `--seconds N`), then how many events it counted.
//!
//! Usage: probe [--seconds N] [--category syscalls] [--tracepoint sys_enter_openat]

use std::{
    collections::BTreeMap,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, RingBuf},
};
use aya_log::EbpfLogger;
use probe_common::{EVENTS_INDEX, EVENTS_MAP, Event, RING_EVENTS_MAP};

/// Program options and their defaults (from `buildbpf init`).
const DEFAULTS: &[(&str, &str)] = &[("category", "syscalls"), ("tracepoint", "sys_enter_openat"), ];

struct Args {
    seconds: Option<u64>,
    options: BTreeMap<String, String>,
}

impl Args {
    #[allow(dead_code)] // not every program type has options
    fn get(&self, key: &str) -> &str {
        self.options.get(key).map(String::as_str).unwrap_or_default()
    }
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let usage = format!(
        "usage: probe [--seconds N]{}",
        DEFAULTS.iter().map(|(k, v)| format!(" [--{} {v}]", k.replace('_', "-"))).collect::<String>()
    );
    let mut args = Args {
        seconds: None,
        options: DEFAULTS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            println!("{usage}");
            return Ok(None);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            bail!("unexpected argument {arg:?}\n{usage}");
        };
        let key = flag.replace('-', "_");
        let Some(value) = it.next() else {
            bail!("--{flag} needs a value\n{usage}");
        };
        if key == "seconds" {
            args.seconds = Some(value.parse().with_context(|| format!("--seconds {value:?}"))?);
        } else if let Some(slot) = args.options.get_mut(&key) {
            *slot = value;
        } else {
            bail!("unknown option --{flag}\n{usage}");
        }
    }
    Ok(Some(args))
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones ignore it, so a
/// failure here (e.g. in a container) is not an error.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// SIGINT (Ctrl-C) and SIGTERM, blocked so that `signal_within` receives them.
fn stop_signals() -> libc::sigset_t {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits up to `timeout` for one of `set`'s signals; true when one arrived.
fn signal_within(set: &libc::sigset_t, timeout: Duration) -> bool {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos().into(),
    };
    unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) > 0 }
}

/// Prints the program's aya-log records (any `log::Log` would do, e.g. env_logger).
struct PrintLogger;

impl log::Log for PrintLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        println!("[{}] {}: {}", record.level(), record.target(), record.args());
    }

    fn flush(&self) {}
}

/// Reads the events waiting in the program's ring buffer: prints the first few, counts all.
fn read_events(ring: &mut RingBuf<MapData>, seen: &mut u64) {
    while let Some(item) = ring.next() {
        if item.len() < size_of::<Event>() {
            continue;
        }
        // the program wrote an `Event`; the ring gives no alignment promise
        let event: Event = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
        if *seen < 5 {
            println!("event: {} bytes on cpu {}", event.len, event.cpu);
        }
        *seen += 1;
    }
}

/// The directory of the objects buildbpf verified: `buildbpf build` and `buildbpf run` set
/// BUILDBPF_OBJECTS for this crate's build. Without it (`cargo check`, an editor, a plain
/// `cargo run`), build.rs embeds an empty stand-in and `run` refuses with `NOT_VERIFIED`.
macro_rules! verified_objects {
    () => {
        env!("BUILDBPF_OBJECTS", "BUILDBPF_OBJECTS is not set: build with `buildbpf build`")
    };
}

const NOT_VERIFIED: &str = "BUILDBPF_OBJECTS is not set: `cargo run` cannot build this crate by itself, \
    because it embeds the eBPF object that buildbpf builds and verifies first; use `buildbpf run` \
    (build and run; `buildbpf run -- ARGS`) or `buildbpf build`";

/// Where tracefs is usually mounted.
const TRACEFS_ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

fn tracepoint_visible(category: &str, name: &str) -> bool {
    TRACEFS_ROOTS
        .iter()
        .any(|root| std::path::Path::new(root).join("events").join(category).join(name).exists())
}

/// Mounts tracefs at /sys/kernel/tracing in a new, private mount namespace of this
/// process (nothing changes for the rest of the system). Must run before any thread starts.
fn mount_private_tracefs() -> anyhow::Result<()> {
    fn check(ret: libc::c_int, what: &str) -> anyhow::Result<()> {
        if ret == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()).context(what.to_owned()) }
    }
    // SAFETY: plain syscalls with NUL-terminated strings; no other thread exists yet.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare(CLONE_NEWNS)")?;
        let private = libc::MS_REC | libc::MS_PRIVATE;
        check(
            libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), private, std::ptr::null()),
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

/// Load `probe` and attach it to the tracepoint, mounting tracefs privately if
/// the kernel has it but it is not mounted.
fn attach(ebpf: &mut Ebpf, args: &Args) -> anyhow::Result<String> {
    let (category, name) = (args.get("category"), args.get("tracepoint"));
    let program: &mut aya::programs::TracePoint =
        ebpf.program_mut("probe").context("program not found")?.try_into()?;
    program.load().context("loading the tracepoint program")?;
    let mut how = format!("tracepoint {category}/{name}");
    if !tracepoint_visible(category, name) && !std::path::Path::new("/sys/kernel/tracing/events").exists() {
        let has_tracefs = std::fs::read_to_string("/proc/filesystems")
            .map(|s| s.lines().any(|l| l.split_whitespace().last() == Some("tracefs")))
            .unwrap_or(false);
        if !has_tracefs {
            bail!("the program loaded, but this kernel has no tracefs (CONFIG_TRACING is off)");
        }
        mount_private_tracefs()?;
        how.push_str(" (tracefs mounted in a private mount namespace)");
    }
    if !tracepoint_visible(category, name) {
        bail!(
            "the program loaded, but tracepoint {category}/{name} does not exist \
             (no events/{category}/{name} under {})",
            TRACEFS_ROOTS.join(" or ")
        );
    }
    program
        .attach(category, name)
        .with_context(|| format!("attaching to tracepoint {category}/{name}"))?;
    Ok(how)
}

/// Open a file (the default tracepoint is syscalls/sys_enter_openat) and run /bin/true
/// (fork, exec and exit fire the sched_process_* tracepoints).
fn trigger(_args: &Args) {
    let _ = std::fs::File::open("/proc/self/stat");
    let _ = std::process::Command::new("/bin/true").status();
}


fn run(args: Args) -> anyhow::Result<()> {
    if cfg!(buildbpf_stand_in) {
        bail!(NOT_VERIFIED);
    }
    raise_memlock_limit();
    let mut ebpf = Ebpf::load(aya::include_bytes_aligned!(concat!(verified_objects!(), "/probe")))
        .context("loading the eBPF object")?;
    let mut logger = match EbpfLogger::init_with_logger(&mut ebpf, PrintLogger) {
        Ok(logger) => Some(logger),
        Err(aya_log::Error::MapNotFound) => None, // the program logs nothing
        Err(err) => return Err(err).context("reading the program's aya-log records"),
    };
    let mut ring = match ebpf.take_map(RING_EVENTS_MAP) {
        Some(map) => Some(RingBuf::try_from(map).context("map RING_EVENTS")?),
        None => None, // this program sends no events
    };
    let stop = stop_signals();
    let how = attach(&mut ebpf, &args)?;
    println!("attached probe: {how}");
    let deadline = args.seconds.map(|seconds| Instant::now() + Duration::from_secs(seconds));
    match deadline {
        Some(_) => trigger(&args),
        None => println!("waiting for Ctrl-C..."),
    }
    let mut ring_events = 0;
    loop {
        if let Some(logger) = logger.as_mut() {
            logger.flush();
        }
        if let Some(ring) = ring.as_mut() {
            read_events(ring, &mut ring_events);
        }
        let done = deadline.is_some_and(|deadline| Instant::now() >= deadline);
        if done || signal_within(&stop, Duration::from_millis(100)) {
            break;
        }
    }
    if let Some(logger) = logger.as_mut() {
        logger.flush();
    }
    if let Some(ring) = ring.as_mut() {
        read_events(ring, &mut ring_events);
        println!("ring events: {ring_events}");
    }
    let events: PerCpuArray<_, u64> =
        PerCpuArray::try_from(ebpf.map(EVENTS_MAP).context("map EVENTS not found")?)?;
    let total: u64 = events.get(&EVENTS_INDEX, 0)?.iter().sum();
    println!("events: {total}");
    Ok(()) // dropping `ebpf` detaches and unloads everything
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| args.map_or(Ok(()), run));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("probe: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
