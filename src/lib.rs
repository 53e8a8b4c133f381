//! runvm: a runc-compatible OCI runtime that boots each container in its
//! own KVM microVM. The verbs live in [`commands`], one file each.

pub mod agent_client;
pub mod bundle;
pub mod commands;
pub mod container;
pub mod features;
pub mod guest_images;
pub mod hooks;
pub mod host_cgroup;
pub mod jail;
pub mod logging;
pub mod monitor;
pub mod sealed_exe;
pub mod session;
pub mod share;
pub mod signal;
pub mod sizing;
pub mod spec_template;
