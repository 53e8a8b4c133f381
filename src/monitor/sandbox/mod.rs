//! What the monitor sets up around the VM on the host, before the guest
//! boots.
//!
//! - [`netns`]: the container's network namespace, which the monitor
//!   enters before any hook runs.
//! - [`network`]: that namespace read for the guest, and its links joined
//!   to the VM's taps.

pub mod host_cgroup;
pub mod jail;
pub mod netns;
pub mod network;
pub mod sealed_exe;
pub mod share;
