//! What the OCI runtime spec defines, as runvm reads and writes it: the
//! bundle (loaded and validated before anything is created), the VM's
//! size taken from it, the features JSON, the example spec and signal
//! names.

/// The OCI runtime-spec version runvm implements, as a literal for
/// `concat!` (`runvm --version`).
#[macro_export]
macro_rules! oci_version {
    () => {
        "1.2.0"
    };
}

/// The OCI runtime-spec version runvm reports.
pub const OCI_VERSION: &str = oci_version!();

pub mod annotations;
pub mod bundle;
pub mod features;
pub mod signal;
pub mod sizing;
pub mod spec_template;
