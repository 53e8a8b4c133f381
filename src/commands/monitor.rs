//! `runvm monitor` (internal): the process `create` starts to own a
//! container's VM. It sets the container up (see [`ContainerMonitor`]),
//! reports on its ready fd, serves the control socket until the
//! container's process ends, and ends the same way.

use std::fs::File;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};

use clap::Args;
use proto::agent::ExitStatus;

use super::GlobalFlags;
use crate::control::report_failure;
use crate::error_chain::error_chain;
use crate::monitor::setup::ContainerMonitor;

/// Own a container's VM (started by `create`; not for direct use).
#[derive(Args, Debug)]
pub struct Monitor {
    /// The container id.
    pub id: String,
    /// The bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The fd to report "ready" or "error: ..." on.
    #[arg(long)]
    pub ready_fd: i32,
    /// Where to send the pty master.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Run as a member of this container's pod, in its VM.
    #[arg(long)]
    pub pod: Option<String>,
}

impl Monitor {
    /// Runs the container to its end; returns how its process ended, or
    /// `None` once a failure is reported on the ready fd.
    pub fn run(&self, root: &Path, flags: &GlobalFlags) -> Option<ExitStatus> {
        vmm::timing::mark("monitor start");
        // Run from a memfd, the thread's name would be the fd's number.
        let _ = nix::sys::prctl::set_name(c"runvm");
        // SAFETY: `create` handed this fd to us and nothing else owns it.
        let ready = unsafe { File::from_raw_fd(self.ready_fd) };
        let report = ready.try_clone();
        let monitor = ContainerMonitor {
            id: &self.id,
            bundle: &self.bundle,
            console_socket: self.console_socket.as_deref(),
            systemd_cgroup: flags.systemd_cgroup,
            pod: self.pod.as_deref(),
        };
        match monitor.run(root, ready) {
            Ok(status) => Some(status),
            Err(e) => {
                if let Ok(report) = report {
                    report_failure(report, &error_chain(&e));
                }
                None
            }
        }
    }
}
