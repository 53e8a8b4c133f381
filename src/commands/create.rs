//! `runvm create`: create a container from a bundle; it waits in
//! `created` until `runvm start`.

use std::path::PathBuf;

use clap::Args;
use vmm::host_check::{check_kvm, LocalHost};

use super::{CommandError, GlobalFlags};
use crate::container::create::{create, CreateOptions};

/// Create a container.
#[derive(Args, Debug)]
pub struct Create {
    /// The container id.
    pub id: String,
    /// Path to the bundle (the directory holding config.json).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's host pid (the monitor's) here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (for terminal: true).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: the guest has its own root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: the guest has its own keyrings.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Extra fds to pass to the container (not supported).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl Create {
    /// Creates the container; returns the monitor.
    pub fn run(
        &self,
        root: &std::path::Path,
        flags: &GlobalFlags,
    ) -> Result<std::process::Child, CommandError> {
        if self.preserve_fds > 0 {
            return Err(CommandError::PreserveFds);
        }
        // The id, then the whole bundle, then the host: a bad bundle gets
        // the same answer on a host without usable KVM.
        crate::container::validate_id(&self.id).map_err(crate::container::ContainerError::from)?;
        let bundle = crate::oci::bundle::load(&self.bundle, true)?;
        let pod = crate::oci::bundle::namespaces::check_paths(&bundle.spec, root)?;
        check_kvm(&LocalHost)?;
        vmm::timing::mark("bundle and host checked");
        let options = CreateOptions {
            bundle: &self.bundle,
            pid_file: self.pid_file.as_deref(),
            console_socket: self.console_socket.as_deref(),
            pod: pod.as_deref(),
            global_args: flags.to_args(),
        };
        Ok(create(root, &self.id, &options)?)
    }
}
