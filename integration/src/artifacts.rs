//! The build outputs the tests need, made by `cargo xtask`.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use xtask::workspace_root;

use crate::{Error, Result};

/// Set to skip the `cargo xtask` builds and use `target/runvm/` as it is.
pub const SKIP_BUILD_VAR: &str = "RUNVM_E2E_SKIP_BUILD";

/// Paths of the artifacts under `target/runvm/`.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The static runvm binary, guest kernel and initramfs embedded.
    pub runvm: PathBuf,
    /// The guest kernel (ELF vmlinux with a PVH note).
    pub guest_kernel: PathBuf,
    /// The guest initramfs: its /init reports `runvm-init: ready` and powers off.
    pub guest_initramfs: PathBuf,
    /// The nested test host's kernel (the guest's config plus KVM).
    pub testhost_kernel: PathBuf,
}

impl Artifacts {
    pub fn in_workspace() -> Artifacts {
        let dir = xtask::output_dir(&workspace_root());
        Artifacts {
            runvm: dir.join("runvm"),
            guest_kernel: dir.join("vmlinux"),
            guest_initramfs: dir.join("initramfs.cpio"),
            testhost_kernel: dir.join("testhost-vmlinux"),
        }
    }

    /// Brings runvm and the guest kernel and initramfs up to date with
    /// `cargo xtask build`, so that the tests exercise the current source;
    /// then checks that they exist.
    pub fn build_release(&self) -> Result<()> {
        build_with_xtask(
            &["build"],
            &[&self.runvm, &self.guest_kernel, &self.guest_initramfs],
        )
    }

    /// The same for the test host's kernel: `cargo xtask kernel --flavor
    /// testhost` (cached, so usually quick).
    pub fn build_testhost_kernel(&self) -> Result<()> {
        build_with_xtask(
            &["kernel", "--flavor", "testhost"],
            &[&self.testhost_kernel],
        )
    }
}

/// Runs `cargo xtask <args>` (unless SKIP_BUILD_VAR is set), then checks
/// that `outputs` exist.
fn build_with_xtask(args: &[&str], outputs: &[&PathBuf]) -> Result<()> {
    if std::env::var_os(SKIP_BUILD_VAR).is_none() {
        run_xtask(args)?;
    }
    let missing: Vec<String> = outputs
        .iter()
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::Setup(format!(
        "missing build artifacts: {}; build them with `cargo xtask {}`",
        missing.join(", "),
        args.join(" ")
    )))
}

fn run_xtask(args: &[&str]) -> Result<()> {
    // cargo sets $CARGO for the processes it runs; fall back to PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let shown = format!("cargo xtask {}", args.join(" "));
    eprintln!("integration: running `{shown}`");
    let status = Command::new(cargo)
        .arg("xtask")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        // Our stdout belongs to the test harness's report.
        .stdout(Stdio::from(io::stderr()))
        .status()
        .map_err(Error::io(format!("starting `{shown}`")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Setup(format!(
            "`{shown}` failed ({status}); run it by hand to see why, or set \
             {SKIP_BUILD_VAR}=1 to use the artifacts already in target/runvm/"
        )))
    }
}
