//! What the monitor sets up around the VM on the host.
//!
//! - [`network`]: the container's network namespace read for the guest,
//!   and its links joined to the VM's taps.

pub mod network;
