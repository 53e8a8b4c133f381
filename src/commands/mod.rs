//! One file per verb: parse, load, call the library, add context.

pub mod boot;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod monitor;
pub mod pause;
pub mod ps;
pub mod resume;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use crate::container::create::CreateError;
use crate::container::ContainerError;
use crate::oci::bundle::BundleError;
use crate::oci::signal::UnknownSignal;
use crate::oci::spec_template::SpecError;

/// What a verb can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Create(#[from] CreateError),
    #[error(transparent)]
    Signal(#[from] UnknownSignal),
    #[error(transparent)]
    ExecFlag(#[from] exec::ExecFlagError),
    #[error(transparent)]
    Exec(#[from] crate::container::exec::ExecError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Update(#[from] update::UpdateError),
    #[error(transparent)]
    Host(#[from] vmm::host_check::KvmUnusable),
    #[error("--preserve-fds is not supported: host fds cannot cross into the VM")]
    PreserveFds,
    #[error("writing the output")]
    Output(#[source] std::io::Error),
    #[error("waiting for the container")]
    Wait(#[source] std::io::Error),
}

/// runc's global flags the monitor must see too.
#[derive(Clone, Debug, Default)]
pub struct GlobalFlags {
    pub log: Option<std::path::PathBuf>,
    pub log_format: String,
    pub debug: bool,
    pub systemd_cgroup: bool,
}

impl GlobalFlags {
    /// The flags as arguments for a re-exec of this binary.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(log) = &self.log {
            args.push("--log".to_string());
            args.push(log.display().to_string());
        }
        args.push("--log-format".to_string());
        args.push(self.log_format.clone());
        if self.debug {
            args.push("--debug".to_string());
        }
        if self.systemd_cgroup {
            args.push("--systemd-cgroup".to_string());
        }
        args
    }
}
