//! `cargo run -p integration --bin demo`: builds runvm and runs an OCI
//! bundle with `runvm run` in a microVM — directly on a host with hardware
//! KVM, else inside the nested test host — and shows what it printed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Result};
use integration::artifacts::Artifacts;
use integration::kvm::KvmKind;
use integration::scripts::{run_direct, Script, ScriptEnv};
use integration::testhost::{self, Payload};

const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

fn run() -> Result<()> {
    let artifacts = Artifacts::in_workspace();
    artifacts.build_release()?;
    let script = Script::new(
        &integration::crate_dir().join("demo").join("hello.sh"),
        DEMO_TIMEOUT,
    )?;
    let work_dir = xtask::output_dir(&xtask::workspace_root()).join("demo");
    let run = if KvmKind::detect() == KvmKind::Hardware {
        eprintln!("demo: /dev/kvm is hardware KVM: running directly");
        run_direct(
            &script,
            &ScriptEnv::on_this_host(&artifacts, Vec::new()),
            &work_dir,
        )?
    } else {
        eprintln!("demo: /dev/kvm cannot boot a stock guest: running in the nested test host");
        artifacts.build_testhost_kernel()?;
        let payload = Payload {
            scripts: vec![script.clone()],
            ..Payload::default()
        };
        testhost::run(&artifacts, &payload, &work_dir)?.script_run(&script.name)
    };
    println!("{}", run.output.trim_end());
    run.verdict()
        .map_err(|message| anyhow!("the demo failed:\n{message}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {error:#}");
            ExitCode::FAILURE
        }
    }
}
