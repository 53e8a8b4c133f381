//! runvm: a runc-compatible OCI runtime that boots each container in its
//! own KVM microVM. The verbs live in [`commands`], one file each.

pub mod agent_client;
pub mod commands;
pub mod container;
pub mod logging;
pub mod monitor;
pub mod oci;
