//! A container's directory under `--root` and the files in it (some of
//! which `runvm boot`'s runtime directory holds too), named once for the
//! CLI and the monitor.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// `<root>/<id>`: where a container's state, sockets, logs and share are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDir(PathBuf);

impl ContainerDir {
    /// The directory of container `id` (a valid id) under `root`.
    pub fn new(root: &Path, id: &str) -> Self {
        Self(root.join(id))
    }

    /// The monitor's control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.join(CONTROL_SOCKET)
    }

    /// The monitor's pid and start time, recorded by `create`.
    pub fn monitor_record(&self) -> PathBuf {
        self.join(MONITOR_RECORD)
    }

    /// For a pod member, the id of its pod's first container, recorded by
    /// `create` before the member's host process starts.
    pub fn pod_record(&self) -> PathBuf {
        self.join(POD_RECORD)
    }

    /// Where each exec'd process's host end is recorded.
    pub fn exec_records(&self) -> PathBuf {
        self.join(EXEC_RECORDS)
    }

    /// The monitor's log, unless `--log` names one.
    pub fn monitor_log(&self) -> PathBuf {
        self.join(MONITOR_LOG)
    }

    /// The directory served to the guest as its share.
    pub fn share(&self) -> PathBuf {
        self.join(SHARE_DIR)
    }

    /// The VM's hybrid-vsock socket.
    pub fn vsock_socket(&self) -> PathBuf {
        vsock_socket(self)
    }
}

impl AsRef<Path> for ContainerDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Deref for ContainerDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

/// The container's state, which the monitor keeps current.
pub const STATE_FILE: &str = "state.json";
/// The monitor's control socket in a container's directory.
const CONTROL_SOCKET: &str = "monitor.sock";
/// The monitor's pid and start time, which `create` records as soon as it
/// has started the monitor, long before the state exists: what `delete
/// --force` of a create that has not finished goes by.
const MONITOR_RECORD: &str = "monitor.pid";
/// The pod member's first container: what `delete --force` of a member
/// whose create has not finished goes by, as the state holds it later.
const POD_RECORD: &str = "pod";
/// The directory where each exec'd process's host end records its pid and
/// start time, under the process's exec id, for `ps`.
const EXEC_RECORDS: &str = "execs";
/// The monitor's log in the container's directory, unless `--log` names one.
const MONITOR_LOG: &str = "monitor.log";
/// The share directory, which the monitor stages.
const SHARE_DIR: &str = "share";

/// The hybrid-vsock socket of the VM in `runtime_dir`.
pub fn vsock_socket(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("vsock.sock")
}

/// The guest's serial console log in `runtime_dir`.
pub fn console_log(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("console.log")
}
