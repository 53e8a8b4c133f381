//! End-to-end tests of runvm on real KVM.
//!
//! The tests are shell scripts (`integration/tests/*.sh`). Where `/dev/kvm`
//! is hardware KVM they run directly on the host; elsewhere (kvm_pvm, or no
//! KVM at all) they run inside the nested *test host*: a Linux booted under
//! QEMU TCG whose own `/dev/kvm` is real. `e2e.rs` turns each script into one
//! libtest-mimic trial; `bench/boot.rs` runs the boot-time benchmark the
//! same way.

pub mod artifacts;
pub mod clienthost;
pub mod console;
pub mod kvm;
pub mod ldd;
pub mod network_tools;
pub mod process;
pub mod pvm_refusal;
pub mod scripts;
pub mod testhost;

use std::path::Path;

/// What went wrong while preparing or running the tests, as opposed to a
/// test that ran and failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// This crate's directory: the test scripts and the benchmark are under it.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
