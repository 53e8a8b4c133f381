//! `cargo bench -p integration --bench boot`: runs `bench/boot.sh` (runvm
//! against QEMU, time to the guest's ready line) where the tests would run,
//! directly on hardware KVM or inside the nested test host, and prints its
//! table. Not part of `cargo test`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use integration::artifacts::Artifacts;
use integration::crate_dir;
use integration::kvm::KvmKind;
use integration::scripts::{self, Script, ScriptEnv};
use integration::testhost::{self, Payload};

/// Ten boots of each VMM, nested under TCG, fit well within this.
const BENCH_TIMEOUT: Duration = Duration::from_secs(900);
const QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// QEMU's firmware for `-M microvm` (qboot), from its default data dir.
const QEMU_MICROVM_FIRMWARE: &str = "/usr/share/qemu/bios-microvm.bin";

fn main() -> Result<()> {
    // `cargo test --benches` runs this too, without `--bench`: only say how
    // to run it, as libtest does.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("boot benchmark: run it with `cargo bench -p integration --bench boot`");
        return Ok(());
    }
    for needed in [QEMU, QEMU_MICROVM_FIRMWARE] {
        if !Path::new(needed).exists() {
            bail!("{needed} is missing: install the Debian package qemu-system-x86");
        }
    }
    let in_testhost = KvmKind::detect() != KvmKind::Hardware;
    let artifacts = Artifacts::in_workspace();
    artifacts.build_release()?;
    if in_testhost {
        artifacts.build_testhost_kernel()?;
    }
    let script = Script::new(&crate_dir().join("bench").join("boot.sh"), BENCH_TIMEOUT)?;
    let boot_timer = PathBuf::from(env!("CARGO_BIN_EXE_boot-timer"));
    let extra_env = vec![
        ("BOOT_TIMER".to_owned(), boot_timer.clone()),
        ("QEMU".to_owned(), QEMU.into()),
    ];

    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    let run = if in_testhost {
        eprintln!(
            "boot benchmark: inside the nested test host (this /dev/kvm is not hardware KVM)"
        );
        let payload = Payload {
            scripts: vec![script.clone()],
            host_files: vec![boot_timer, QEMU.into(), QEMU_MICROVM_FIRMWARE.into()],
            extra_env,
        };
        testhost::run(&artifacts, &payload, &work_dir)?.script_run(&script.name)
    } else {
        scripts::run_direct(
            &script,
            &ScriptEnv::on_this_host(&artifacts, extra_env),
            &work_dir,
        )?
    };
    match run.verdict() {
        Ok(()) => {
            print!("{}", run.output);
            Ok(())
        }
        Err(failure) => Err(anyhow::anyhow!(failure)).context("the boot benchmark failed"),
    }
}
