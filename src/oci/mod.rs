//! What the OCI runtime spec defines, as runvm reads and writes it: the
//! bundle (loaded and validated before anything is created), the VM's
//! size taken from it, the features JSON, the example spec and signal
//! names.

pub mod annotations;
pub mod bundle;
pub mod features;
pub mod signal;
pub mod sizing;
pub mod spec_template;
