//! Build tasks for runvm, usable as a library: the integration tests pack the
//! nested test host's initramfs with [`cpio`] and build its kernel with
//! [`kernel`].

pub mod command;
pub mod cpio;
pub mod initramfs;
pub mod kernel;
pub mod modcycles;
pub mod release;

use std::path::{Path, PathBuf};

/// The Rust target every shipped binary is built for: with `--target`,
/// RUSTFLAGS (`+crt-static`) apply to the binaries but not to build scripts.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// RUSTFLAGS for fully static binaries: the guest has no libc to load, and the
/// host binary must run on whatever distribution it is copied to.
pub const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// The root of the runvm workspace (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Where the build products go: `<workspace>/target/runvm`.
pub fn output_dir(workspace: &Path) -> PathBuf {
    workspace.join("target").join("runvm")
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn cargo_target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
}
