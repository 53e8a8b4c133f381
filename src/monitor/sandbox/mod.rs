//! What the monitor sets up around the VM on the host, before the guest
//! boots.
//!
//! - [`host_namespaces`]: the container's UTS, IPC and cgroup namespaces
//!   mirrored on the host, as the monitor enters them.
//! - [`netns`]: the container's network namespace, which the monitor
//!   enters before any hook runs.
//! - [`network`]: that namespace read for the guest, and its links joined
//!   to the VM's taps.
//! - [`pod`]: a pod member's share, mounted inside its first container's.

pub mod host_cgroup;
pub mod host_namespaces;
pub mod jail;
pub mod netns;
pub mod network;
pub mod pod;
pub mod sealed_exe;
pub mod share;
