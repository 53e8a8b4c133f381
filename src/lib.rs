//! runvm: a runc-compatible OCI runtime that boots each container in its
//! own KVM microVM. The verbs live in [`commands`], one file each.

pub mod agent_client;
pub mod commands;
pub mod container;
pub mod container_files;
pub mod control;
pub mod error_chain;
pub mod exit;
pub mod logging;
pub mod monitor;
pub mod oci;
