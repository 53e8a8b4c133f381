//! The files in a container's directory under `--root` (and in `runvm
//! boot`'s runtime directory), named once for the CLI and the monitor.

use std::path::{Path, PathBuf};

/// The container's state, which the monitor keeps current.
pub const STATE_FILE: &str = "state.json";
/// The monitor's control socket in a container's directory.
pub const CONTROL_SOCKET: &str = "monitor.sock";
/// The monitor's pid and start time, which `create` records as soon as it
/// has started the monitor, long before the state exists: what `delete
/// --force` of a create that has not finished goes by.
pub const MONITOR_RECORD: &str = "monitor.pid";
/// The directory where each exec'd process's host end records its pid and
/// start time, under the process's exec id, for `ps`.
pub const EXEC_RECORDS: &str = "execs";
/// The monitor's log in the container's directory, unless `--log` names one.
pub const MONITOR_LOG: &str = "monitor.log";

/// The hybrid-vsock socket of the VM in `runtime_dir`.
pub fn vsock_socket(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("vsock.sock")
}

/// The guest's serial console log in `runtime_dir`.
pub fn console_log(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("console.log")
}
