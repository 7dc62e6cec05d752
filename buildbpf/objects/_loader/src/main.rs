//! `buildbpf-loader OBJECT [FUNCTION=ATTACH_TARGET]...`
//! `buildbpf-loader --parse-only OBJECT`
//!
//! Loads each program of OBJECT into the running kernel's verifier and prints one JSON
//! line per program, after one line of facts about the kernel (`{"kernel": ...}`).
//! With `--parse-only`, runs only what Aya does to the object before the kernel sees it
//! (parse, map types, relocations; no root needed) and prints one line, `{"parsed": ...}`
//! or `{"object_error": ...}`.
//!
//! A panic inside Aya on a malformed object is an `object_error` line too: the panic hook
//! keeps the message and prints nothing (no backtrace, whatever RUST_BACKTRACE says).
//!
//! Nothing outlives this process. Programs and maps live as long as their fds. Maps that
//! ask to be pinned are pinned in a bpffs mounted in a private mount namespace of this
//! process (when it may unshare one), which vanishes with it, also when it is killed; the
//! host's /sys/fs/bpf is never touched.

use std::{
    collections::{HashMap, HashSet},
    env,
    ffi::CStr,
    fmt::Write as _,
    fs,
    io::Write,
    panic::{self, AssertUnwindSafe},
    process::ExitCode,
    sync::Mutex,
};

use aya::{
    programs::{Program, ProgramError},
    Btf, EbpfLoader, VerifierLogLevel,
};
use aya_obj::btf::BtfKind;

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The message of the last panic, kept by the hook installed in `main`.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        // the first line only: some panics carry a dump of the data they choked on
        let message = message.lines().next().unwrap_or_default().chars().take(300).collect();
        if let Ok(mut slot) = PANIC.lock() {
            *slot = Some(message);
        }
    }));
}

/// Run `f`; a panic becomes `Err` with its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let message = PANIC.lock().ok().and_then(|mut slot| slot.take());
        format!("Aya's loader panicked on this object: {}", message.unwrap_or_else(|| "no message".to_owned()))
    })
}

/// What `EbpfLoader::load` does to an object before it asks the kernel for anything: parse
/// it, check the map types, relocate map references (with stand-in fds) and calls.
fn parse_only(data: &[u8]) -> Result<(usize, usize), String> {
    use aya_obj::{generated::bpf_map_type, Object, ParseError};
    let mut obj = Object::parse(data).map_err(|e| match e {
        // object's own error says what is wrong with the ELF; aya-obj does not chain it
        ParseError::ElfError(inner) => format!("{e}: {inner}"),
        ParseError::SectionError { error: ref inner, .. } => format!("{e}: {inner}"),
        e => error_chain(&e),
    })?;
    for (name, map) in &obj.maps {
        let kind: Result<bpf_map_type, _> = map.map_type().try_into();
        let Ok(kind) = kind else {
            return Err(format!("map `{name}`: invalid map type {}", map.map_type()));
        };
        let of_maps =
            matches!(kind, bpf_map_type::BPF_MAP_TYPE_ARRAY_OF_MAPS | bpf_map_type::BPF_MAP_TYPE_HASH_OF_MAPS);
        if of_maps && map.inner().is_none() {
            return Err(format!("map `{name}`: a map of maps without an inner map definition"));
        }
    }
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(section, _)| *section).collect();
    let maps: Vec<(String, aya_obj::Map)> = obj.maps.iter().map(|(n, m)| (n.clone(), m.clone())).collect();
    obj.relocate_maps(maps.iter().map(|(n, m)| (n.as_str(), 1000, m)), &text_sections)
        .map_err(|e| error_chain(&e))?;
    obj.relocate_calls(&text_sections).map_err(|e| error_chain(&e))?;
    Ok((obj.programs.len(), maps.len()))
}

/// An error with its causes, as `{error:#}` would print an anyhow chain.
/// Cut to 300 characters: some errors print the bytes they refused.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text.chars().take(300).collect()
}

fn number(value: Option<u32>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// Why a program was not loaded at all (not a verdict of the kernel).
enum Outcome {
    Loaded,
    /// Not attempted: what is missing (`target`, `btf`, `program`, or `attach`: the kernel
    /// lacks the function or tracepoint the program attaches to).
    NotAttempted(&'static str, String),
    /// The kernel (or Aya) refused: the error, its errno, the verifier log.
    Refused(String, Option<i32>, String),
}

/// A private mount namespace with a fresh bpffs on /sys/fs/bpf: where Aya pins maps by
/// default. Needs CAP_SYS_ADMIN; without it, pinning maps fail as they would on the host.
fn private_bpffs() -> &'static str {
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return "host";
        }
        let root = CStr::from_bytes_with_nul(b"/\0").unwrap();
        let flags = libc::MS_REC | libc::MS_PRIVATE;
        if libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), flags, std::ptr::null()) != 0 {
            return "host";
        }
        let bpf = CStr::from_bytes_with_nul(b"bpf\0").unwrap();
        let target = CStr::from_bytes_with_nul(b"/sys/fs/bpf\0").unwrap();
        if libc::mount(bpf.as_ptr(), target.as_ptr(), bpf.as_ptr(), 0, std::ptr::null()) != 0 {
            return "host";
        }
    }
    "private"
}

/// The active LSMs (`/sys/kernel/security/lsm`), mounting securityfs in the private
/// namespace if the host has not; `None` when they cannot be read.
fn active_lsms(private: bool) -> Option<String> {
    let path = "/sys/kernel/security/lsm";
    if let Ok(text) = fs::read_to_string(path) {
        return Some(text.trim().to_owned());
    }
    if private {
        let fs_type = CStr::from_bytes_with_nul(b"securityfs\0").unwrap();
        let target = CStr::from_bytes_with_nul(b"/sys/kernel/security\0").unwrap();
        let mounted = unsafe {
            libc::mount(fs_type.as_ptr(), target.as_ptr(), fs_type.as_ptr(), 0, std::ptr::null())
        };
        if mounted == 0 {
            return fs::read_to_string(path).ok().map(|t| t.trim().to_owned());
        }
    }
    None
}

/// Programs that need a BTF attach target get it from the `FUNCTION=TARGET` arguments.
fn load(program: &mut Program, target: Option<&str>, btf: Option<&Btf>) -> Outcome {
    match try_load(program, target, btf) {
        Ok(()) => Outcome::Loaded,
        Err(outcome) => outcome,
    }
}

/// The BTF type Aya's `load` looks up for a program of this kind attaching to `target`.
fn btf_target(what: &str, target: &str) -> (String, BtfKind) {
    match what {
        "lsm" | "lsm_cgroup" => (format!("bpf_lsm_{target}"), BtfKind::Func),
        "tp_btf" => (format!("btf_trace_{target}"), BtfKind::Typedef),
        "iter" => (format!("bpf_iter_{target}"), BtfKind::Func),
        _ => (target.to_owned(), BtfKind::Func), // fentry, fexit
    }
}

fn try_load(program: &mut Program, target: Option<&str>, btf: Option<&Btf>) -> Result<(), Outcome> {
    let needs = |what: &str| -> Result<(&str, &Btf), Outcome> {
        let target = target.ok_or_else(|| {
            Outcome::NotAttempted("target", format!("{what} names no attach target; userspace gives it at load time"))
        })?;
        let btf = btf.ok_or_else(|| {
            Outcome::NotAttempted("btf", "kernel BTF (/sys/kernel/btf/vmlinux) is not available".to_owned())
        })?;
        // what Aya's `load` looks up: a missing one means this kernel cannot attach it
        let (name, kind) = btf_target(what, target);
        if btf.id_by_type_name_kind(&name, kind).is_err() {
            let kind = if kind == BtfKind::Typedef { "typedef" } else { "function" };
            return Err(Outcome::NotAttempted(
                "attach",
                format!("{what} target `{target}` is not in this kernel's BTF (no {kind} {name})"),
            ));
        }
        Ok((target, btf))
    };
    let result: Result<(), ProgramError> = match program {
        Program::FEntry(p) => { let (t, b) = needs("fentry")?; p.load(t, b) }
        Program::FExit(p) => { let (t, b) = needs("fexit")?; p.load(t, b) }
        Program::Lsm(p) => { let (t, b) = needs("lsm")?; p.load(t, b) }
        Program::LsmCgroup(p) => { let (t, b) = needs("lsm_cgroup")?; p.load(t, b) }
        Program::BtfTracePoint(p) => { let (t, b) = needs("tp_btf")?; p.load(t, b) }
        Program::Iter(p) => { let (t, b) = needs("iter")?; p.load(t, b) }
        Program::Extension(_) => {
            return Err(Outcome::NotAttempted("program", "freplace (extension) programs replace a function of another loaded program".to_owned()))
        }
        Program::KProbe(p) => p.load(),
        Program::UProbe(p) => p.load(),
        Program::TracePoint(p) => p.load(),
        Program::SocketFilter(p) => p.load(),
        Program::ReusePortSocketFilter(p) => p.load(),
        Program::Xdp(p) => p.load(),
        Program::SkMsg(p) => p.load(),
        Program::SkSkb(p) => p.load(),
        Program::CgroupSockAddr(p) => p.load(),
        Program::SockOps(p) => p.load(),
        Program::SchedClassifier(p) => p.load(),
        Program::CgroupSkb(p) => p.load(),
        Program::CgroupSysctl(p) => p.load(),
        Program::CgroupSockopt(p) => p.load(),
        Program::LircMode2(p) => p.load(),
        Program::PerfEvent(p) => p.load(),
        Program::RawTracePoint(p) => p.load(),
        Program::FlowDissector(p) => p.load(),
        Program::SkLookup(p) => p.load(),
        Program::SkReuseport(p) => p.load(),
        Program::CgroupSock(p) => p.load(),
        Program::CgroupDevice(p) => p.load(),
    };
    result.map_err(|error| match error {
        ProgramError::LoadError { io_error, verifier_log } => {
            Outcome::Refused(io_error.to_string(), io_error.raw_os_error(), verifier_log.to_string())
        }
        ProgramError::SyscallError(e) => {
            Outcome::Refused(format!("{}: {}", e.call, e.io_error), e.io_error.raw_os_error(), String::new())
        }
        other => Outcome::Refused(other.to_string(), None, String::new()),
    })
}

fn main() -> ExitCode {
    quiet_panics();
    if std::process::id() == 1 {
        guest::run();
    }
    let mut args = env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: buildbpf-loader OBJECT [FUNCTION=ATTACH_TARGET]... | --parse-only OBJECT");
        return ExitCode::from(2);
    };
    if path == "--parse-only" {
        let Some(path) = args.next() else {
            eprintln!("usage: buildbpf-loader --parse-only OBJECT");
            return ExitCode::from(2);
        };
        // bounded memory: a corrupt size field must not let Aya allocate without limit
        let limit = libc::rlimit { rlim_cur: 1 << 30, rlim_max: 1 << 30 };
        unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(error) => {
                println!("{{\"object_error\": {}}}", quote(&format!("cannot read {path}: {error}")));
                return ExitCode::from(3);
            }
        };
        return match guarded(|| parse_only(&data)).and_then(|parsed| parsed) {
            Ok((programs, maps)) => {
                println!("{{\"parsed\": {{\"programs\": {programs}, \"maps\": {maps}}}}}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                println!("{{\"object_error\": {}}}", quote(&error));
                ExitCode::from(3)
            }
        };
    }
    let targets: HashMap<String, String> = args
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let bpffs = private_bpffs();
    let lsms = active_lsms(bpffs == "private");
    println!(
        "{{\"kernel\": {{\"bpffs\": {}, \"lsms\": {}}}}}",
        quote(bpffs),
        lsms.as_deref().map_or_else(|| "null".to_owned(), quote),
    );
    let btf = Btf::from_sys_fs().ok();
    let mut out = std::io::stdout();
    match load_all(&path, &targets, btf.as_ref(), &mut out, usize::MAX) {
        Err(()) => ExitCode::from(3),
        Ok(true) => ExitCode::from(1),
        Ok(false) => ExitCode::SUCCESS,
    }
}

/// Load every program of the object at `path`, one JSON line each on `out`. `Err` when the
/// object itself is refused (its `object_error` line is written), else whether any program
/// was refused. `log_tail`: how many characters of a verifier log to keep (the end).
fn load_all(
    path: &str,
    targets: &HashMap<String, String>,
    btf: Option<&Btf>,
    out: &mut dyn Write,
    log_tail: usize,
) -> Result<bool, ()> {
    let loaded = guarded(|| {
        EbpfLoader::new()
            .btf(btf)
            .verifier_log_level(VerifierLogLevel::VERBOSE | VerifierLogLevel::STATS)
            .load_file(path)
            // cut: some errors print the bytes they refused
            .map_err(|error| format!("{error:#}").chars().take(500).collect::<String>())
    });
    let mut ebpf = match loaded.and_then(|loaded| loaded) {
        Ok(ebpf) => ebpf,
        Err(error) => {
            let _ = writeln!(out, "{{\"object_error\": {}}}", quote(&error));
            return Err(());
        }
    };
    let mut failed = false;
    for (name, program) in ebpf.programs_mut() {
        let kind = format!("{:?}", program.prog_type());
        let target = targets.get(name).map(String::as_str);
        let outcome = guarded(|| load(program, target, btf))
            .unwrap_or_else(|panicked| Outcome::Refused(panicked, None, String::new()));
        let _ = match outcome {
            Outcome::Loaded => {
                let info = program.info().ok();
                let translated = info.as_ref().and_then(|i| i.size_translated()).map(|b| b / 8);
                let verified = info.as_ref().and_then(|i| i.verified_instruction_count());
                let jited = info.as_ref().map(|i| i.size_jitted());
                writeln!(
                    out,
                    "{{\"name\": {}, \"type\": {}, \"ok\": true, \"translated_insns\": {}, \"verified_insns\": {}, \"jited_bytes\": {}}}",
                    quote(name), quote(&kind), number(translated), number(verified), number(jited),
                )
            }
            Outcome::NotAttempted(needs, why) => {
                writeln!(
                    out,
                    "{{\"name\": {}, \"type\": {}, \"ok\": false, \"needs\": {}, \"error\": {}}}",
                    quote(name), quote(&kind), quote(needs), quote(&why),
                )
            }
            Outcome::Refused(error, errno, log) => {
                failed = true;
                let skip = log.chars().count().saturating_sub(log_tail);
                let log: String = log.chars().skip(skip).collect();
                writeln!(
                    out,
                    "{{\"name\": {}, \"type\": {}, \"ok\": false, \"error\": {}, \"errno\": {}, \"verifier_log\": {}}}",
                    quote(name), quote(&kind), quote(&error), number(errno.map(|e| e as u32)), quote(&log),
                )
            }
        };
    }
    // Dropping `ebpf` closes every fd: the kernel frees the programs and maps.
    Ok(failed)
}

/// Init mode: the helper is PID 1 of a throwaway VM that `buildbpf check --kernel` boots.
/// It mounts what loading needs, loads every object listed in `/buildbpf/objects.list`
/// (`PATH<TAB>FUNCTION=TARGET...` a line), writes the JSON lines of host mode on the second
/// serial port (`/dev/ttyS1`; the first one is the kernel's console) preceded by one
/// `{"object": PATH}` line per object, then the end marker, and powers the VM off.
mod guest {
    use super::*;
    use std::{ffi::CString, os::fd::AsRawFd};

    const LIST: &str = "/buildbpf/objects.list";
    /// `OBJECT<TAB>FUNCTION<TAB>KIND<TAB>TARGET` a line: kprobe and tracepoint targets to look up.
    const ATTACH: &str = "/buildbpf/attach.list";
    /// The host trusts nothing without it: a guest that dies early never prints it.
    const END: &str = "BUILDBPF-GUEST-END";
    /// Characters of a refused program's verifier log sent to the host (its end), unless
    /// `OPTIONS` has a `full-log` line (`check --kernel --full-log`).
    const LOG_TAIL: usize = 4000;
    const OPTIONS: &str = "/buildbpf/options";

    fn mount(source: &str, target: &str, fstype: &str) {
        let _ = fs::create_dir_all(target);
        let (Ok(s), Ok(t), Ok(f)) = (CString::new(source), CString::new(target), CString::new(fstype)) else {
            return;
        };
        unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
    }

    /// The results port in raw mode (no `\n` -> `\r\n`), or stdout when it cannot be opened.
    fn serial() -> Option<fs::File> {
        let file = fs::OpenOptions::new().write(true).open("/dev/ttyS1").ok()?;
        unsafe {
            let mut tty: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(file.as_raw_fd(), &mut tty) == 0 {
                libc::cfmakeraw(&mut tty);
                libc::tcsetattr(file.as_raw_fd(), libc::TCSANOW, &tty);
            }
        }
        Some(file)
    }

    /// One `{"attach": ...}` line per target of `ATTACH`: kprobes in /proc/kallsyms (functions
    /// only), tracepoints in tracefs. Verifying never needs them; attaching does.
    fn attach_targets(out: &mut dyn Write) {
        let list = fs::read_to_string(ATTACH).unwrap_or_default();
        if list.is_empty() {
            return;
        }
        let kallsyms = fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let symbols: HashSet<&str> = kallsyms
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let (_, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
                matches!(kind, "t" | "T" | "w" | "W").then_some(name)
            })
            .collect();
        for line in list.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [object, function, kind, target] = fields[..] else { continue };
            let found = match kind {
                "kprobe" | "kretprobe" => symbols.contains(target),
                "tracepoint" => std::path::Path::new("/sys/kernel/tracing/events").join(target).is_dir(),
                _ => continue,
            };
            let _ = writeln!(
                out,
                "{{\"attach\": {{\"object\": {}, \"function\": {}, \"kind\": {}, \"target\": {}, \"found\": {found}}}}}",
                quote(object), quote(function), quote(kind), quote(target),
            );
        }
    }

    fn report(out: &mut dyn Write) {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let lsms = fs::read_to_string("/sys/kernel/security/lsm").ok();
        let _ = writeln!(
            out,
            "{{\"kernel\": {{\"bpffs\": \"private\", \"lsms\": {}, \"release\": {}}}}}",
            lsms.as_deref().map(str::trim).map_or_else(|| "null".to_owned(), quote),
            quote(release.trim()),
        );
        attach_targets(out);
        let btf = Btf::from_sys_fs().ok();
        let options = fs::read_to_string(OPTIONS).unwrap_or_default();
        let log_tail = if options.lines().any(|o| o == "full-log") { usize::MAX } else { LOG_TAIL };
        for line in fs::read_to_string(LIST).unwrap_or_default().lines() {
            let mut fields = line.split('\t');
            let Some(path) = fields.next().filter(|p| !p.is_empty()) else { continue };
            let targets: HashMap<String, String> = fields
                .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
            let _ = writeln!(out, "{{\"object\": {}}}", quote(path));
            let _ = load_all(path, &targets, btf.as_ref(), out, log_tail);
        }
        let _ = writeln!(out, "{END}");
        let _ = out.flush();
    }

    pub fn run() -> ! {
        mount("proc", "/proc", "proc");
        mount("sysfs", "/sys", "sysfs");
        mount("devtmpfs", "/dev", "devtmpfs");
        mount("bpf", "/sys/fs/bpf", "bpf");
        mount("securityfs", "/sys/kernel/security", "securityfs");
        mount("tracefs", "/sys/kernel/tracing", "tracefs");
        mount("debugfs", "/sys/kernel/debug", "debugfs");
        match serial() {
            Some(mut file) => {
                let mut out = std::io::LineWriter::new(&mut file);
                report(&mut out);
                drop(out);
                // everything written must leave the port before the power goes
                unsafe { libc::tcdrain(file.as_raw_fd()) };
            }
            None => report(&mut std::io::stdout()),
        }
        unsafe {
            libc::sync();
            libc::reboot(libc::RB_POWER_OFF);
        }
        // PID 1 must not exit (the kernel would panic); the host's timeout ends the VM
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}
