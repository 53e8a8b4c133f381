//! Embeds the guest kernel and initramfs named by `RUNVM_GUEST_KERNEL` and
//! `RUNVM_GUEST_INITRAMFS` (set by `cargo xtask build`), so installing
//! runvm is copying one file. Without them the embedded images are empty
//! and `--kernel`/`--initrd` are required at run time.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    // `runvm --version` shows the commit it was built from.
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RUNVM_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (var, file) in [
        ("RUNVM_GUEST_KERNEL", "guest-kernel"),
        ("RUNVM_GUEST_INITRAMFS", "guest-initramfs"),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let dest = out_dir.join(file);
        match env::var_os(var) {
            Some(src) => {
                println!("cargo:rerun-if-changed={}", PathBuf::from(&src).display());
                if let Err(e) = fs::copy(&src, &dest) {
                    panic!("{var}={}: {e}", PathBuf::from(&src).display());
                }
            }
            None => fs::write(&dest, []).expect("writing an empty image to OUT_DIR"),
        }
    }
}
