//! Lets `cargo check`, clippy and rust-analyzer compile this crate before `buildbpf build` has
//! verified the eBPF object it embeds. `buildbpf build` and `buildbpf run` set BUILDBPF_OBJECTS
//! (where the verified objects are); without it, an empty stand-in is embedded and the program
//! refuses to run, pointing at `buildbpf run`.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=BUILDBPF_OBJECTS");
    println!("cargo::rustc-check-cfg=cfg(buildbpf_stand_in)");
    if env::var_os("BUILDBPF_OBJECTS").is_some() {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("probe"), b"").expect("writing the stand-in object");
    println!("cargo::rustc-env=BUILDBPF_OBJECTS={}", out.display());
    println!("cargo::rustc-cfg=buildbpf_stand_in");
}
