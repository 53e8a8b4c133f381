//! `cargo bench -p integration --bench vm`: runs the benchmark scripts
//! where the tests would run, directly on hardware KVM or inside the nested
//! test host, and prints their tables. `bench/boot.sh`: runvm against QEMU,
//! time to the guest's ready line. `bench/stdio.sh`: a container process's
//! stdout through the VM against a plain pipe. `bench/fs.sh`: sequential
//! I/O and file create/stat/unlink on a container's virtio-fs rootfs
//! against the host's own file system. `bench/container.sh`: `run` to a
//! container's first output line and an idle container's host memory,
//! runvm against runc. `bench/net.sh`: TCP throughput and ping round
//! trips from the host to a container, against a plain network namespace
//! on the same CNI bridge. Words after `--` select scripts by name (`-- fs`).
//! Not part of `cargo test`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use integration::artifacts::Artifacts;
use integration::crate_dir;
use integration::kvm::KvmKind;
use integration::scripts::{self, Script, ScriptEnv};
use integration::testhost::{self, Payload};

/// The benchmark scripts, in the order they run.
const BENCH_SCRIPTS: [&str; 5] = ["boot.sh", "stdio.sh", "fs.sh", "container.sh", "net.sh"];
/// Ten boots of each VMM, nested under TCG, fit well within this.
const BENCH_TIMEOUT: Duration = Duration::from_secs(900);
/// Fresh test host boots after one that died or was unusable.
const TESTHOST_RETRIES: usize = 2;
const QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// The reference container runtime (Debian package runc).
const RUNC: &str = "/usr/sbin/runc";
/// QEMU's firmware for `-M microvm` (qboot), from its default data dir.
const QEMU_MICROVM_FIRMWARE: &str = "/usr/share/qemu/bios-microvm.bin";

fn main() -> Result<()> {
    // `cargo test --benches` runs this too, without `--bench`: only say how
    // to run it, as libtest does.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("vm benchmarks: run them with `cargo bench -p integration --bench vm`");
        return Ok(());
    }
    for (needed, package) in [
        (QEMU, "qemu-system-x86"),
        (QEMU_MICROVM_FIRMWARE, "qemu-system-x86"),
        (RUNC, "runc"),
    ] {
        if !Path::new(needed).exists() {
            bail!("{needed} is missing: install the Debian package {package}");
        }
    }
    let in_testhost = KvmKind::detect() != KvmKind::Hardware;
    let artifacts = Artifacts::in_workspace();
    artifacts.build_release()?;
    if in_testhost {
        artifacts.build_testhost_kernel()?;
    }
    // `cargo bench -p integration --bench vm -- fs`: only the scripts whose
    // name holds one of the words after `--`, as libtest filters.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    let scripts = BENCH_SCRIPTS
        .iter()
        .filter(|name| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .map(|name| Script::new(&crate_dir().join("bench").join(name), BENCH_TIMEOUT))
        .collect::<integration::Result<Vec<_>>>()?;
    if scripts.is_empty() {
        bail!("no benchmark script matches {filters:?}: they are {BENCH_SCRIPTS:?}");
    }
    let boot_timer = PathBuf::from(env!("CARGO_BIN_EXE_boot-timer"));
    let vmctl = PathBuf::from(env!("CARGO_BIN_EXE_vmctl"));
    let extra_env = vec![
        ("BOOT_TIMER".to_owned(), boot_timer.clone()),
        ("VMCTL".to_owned(), vmctl.clone()),
        ("QEMU".to_owned(), QEMU.into()),
        ("RUNC".to_owned(), RUNC.into()),
    ];
    let mut failures = Vec::new();

    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    let runs = if in_testhost {
        eprintln!("vm benchmarks: inside the nested test host (this /dev/kvm is not hardware KVM)");
        let payload = Payload {
            scripts: scripts.clone(),
            host_files: [
                vec![
                    boot_timer,
                    vmctl,
                    QEMU.into(),
                    QEMU_MICROVM_FIRMWARE.into(),
                    RUNC.into(),
                ],
                integration::network_tools::network_tools()?,
            ]
            .concat(),
            extra_env,
        };
        let mut host_run = testhost::run(&artifacts, &payload, &work_dir)?;
        // A test host that died or whose nested guests cannot run is the
        // harness failing, not runvm: a fresh one is booted, as e2e.rs does.
        for _ in 0..TESTHOST_RETRIES {
            let Some(why) = &host_run.cut_short else {
                break;
            };
            eprintln!("test host: the run was cut short ({why}); booting a fresh one");
            host_run = testhost::run(&artifacts, &payload, &work_dir)?;
        }
        scripts
            .iter()
            .map(|script| host_run.script_run(&script.name))
            .collect::<Vec<_>>()
    } else {
        let env = ScriptEnv::on_this_host(&artifacts, extra_env);
        scripts
            .iter()
            .map(|script| scripts::run_direct(script, &env, &work_dir.join(&script.name)))
            .collect::<integration::Result<Vec<_>>>()?
    };
    for (script, run) in scripts.iter().zip(runs) {
        match run.verdict() {
            Ok(()) => print!("{}", run.output),
            Err(failure) => failures.push(format!("{}: {failure}", script.name)),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(failures.join("\n"))).context("a benchmark failed")
    }
}
