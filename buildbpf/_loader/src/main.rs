//! `buildbpf-loader OBJECT [FUNCTION=ATTACH_TARGET]...`
//!
//! Loads each program of OBJECT into the running kernel's verifier and prints one JSON
//! line per program. Nothing is pinned: every program and map lives only as long as this
//! process, so the kernel holds nothing afterwards, also when the process is killed.

use std::{collections::HashMap, env, fmt::Write as _, process::ExitCode};

use aya::{
    programs::{Program, ProgramError},
    Btf, EbpfLoader, VerifierLogLevel,
};

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

fn number(value: Option<u32>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// Programs that need a BTF attach target get it from the `FUNCTION=TARGET` arguments.
fn load(program: &mut Program, target: Option<&str>, btf: Option<&Btf>) -> Result<(), String> {
    let needs = |what: &str| -> Result<(&str, &Btf), String> {
        let target = target.ok_or_else(|| format!("{what} needs an attach target (none in the section name)"))?;
        let btf = btf.ok_or_else(|| "kernel BTF (/sys/kernel/btf/vmlinux) is not available".to_owned())?;
        Ok((target, btf))
    };
    let result: Result<(), ProgramError> = match program {
        Program::FEntry(p) => { let (t, b) = needs("fentry")?; p.load(t, b) }
        Program::FExit(p) => { let (t, b) = needs("fexit")?; p.load(t, b) }
        Program::Lsm(p) => { let (t, b) = needs("lsm")?; p.load(t, b) }
        Program::LsmCgroup(p) => { let (t, b) = needs("lsm_cgroup")?; p.load(t, b) }
        Program::BtfTracePoint(p) => { let (t, b) = needs("tp_btf")?; p.load(t, b) }
        Program::Iter(p) => { let (t, b) = needs("iter")?; p.load(t, b) }
        Program::Extension(_) => return Err("freplace (extension) programs need a target program; not checked".to_owned()),
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
            format!("{io_error}\u{0}{verifier_log}")
        }
        other => format!("{other}\u{0}"),
    })
}

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: buildbpf-loader OBJECT [FUNCTION=ATTACH_TARGET]...");
        return ExitCode::from(2);
    };
    let targets: HashMap<String, String> = args
        .filter_map(|a| a.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let btf = Btf::from_sys_fs().ok();
    let mut ebpf = match EbpfLoader::new()
        .btf(btf.as_ref())
        .verifier_log_level(VerifierLogLevel::VERBOSE | VerifierLogLevel::STATS)
        .load_file(&path)
    {
        Ok(ebpf) => ebpf,
        Err(error) => {
            println!("{{\"object_error\": {}}}", quote(&format!("{error:#}")));
            return ExitCode::from(3);
        }
    };
    let mut failed = false;
    for (name, program) in ebpf.programs_mut() {
        let kind = format!("{:?}", program.prog_type());
        match load(program, targets.get(name).map(String::as_str), btf.as_ref()) {
            Ok(()) => {
                let info = program.info().ok();
                let translated = info.as_ref().and_then(|i| i.size_translated()).map(|b| b / 8);
                let verified = info.as_ref().and_then(|i| i.verified_instruction_count());
                let jited = info.as_ref().map(|i| i.size_jitted());
                println!(
                    "{{\"name\": {}, \"type\": {}, \"ok\": true, \"translated_insns\": {}, \"verified_insns\": {}, \"jited_bytes\": {}}}",
                    quote(name), quote(&kind), number(translated), number(verified), number(jited),
                );
            }
            Err(message) => {
                failed = true;
                let (error, log) = message.split_once('\u{0}').unwrap_or((&message, ""));
                println!(
                    "{{\"name\": {}, \"type\": {}, \"ok\": false, \"error\": {}, \"verifier_log\": {}}}",
                    quote(name), quote(&kind), quote(error), quote(log),
                );
            }
        }
    }
    // Dropping `ebpf` closes every fd: the kernel frees the programs and maps.
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}
