//! What the monitor reports when the guest stops before the container
//! process has ended.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use vmm::{VmError, VmExit};

use crate::control::report_failure;

/// Lines of the guest console shown when the guest dies early.
const CONSOLE_TAIL_LINES: usize = 20;

/// Where the monitor says why the guest stopped early.
pub(super) enum StopReport {
    /// `runvm boot`: the user's terminal.
    Stderr,
    /// A container: the ready pipe while `create` waits on it; the log
    /// always (stderr is the container's).
    Container(Arc<Mutex<Option<File>>>),
}

/// Says why the guest stopped before the container process ended.
pub(super) fn report_guest_stop(
    result: Result<VmExit, VmError>,
    console_log: &Path,
    report: StopReport,
) {
    let reason = match result {
        Ok(VmExit::PoweredOff(status)) => format!("the guest powered off with status {status}"),
        Ok(VmExit::Reset(cause)) => format!("the guest reset ({cause})"),
        Ok(VmExit::VcpuFailed { vcpu, error }) => format!("vCPU {vcpu} stopped: {error}"),
        Err(e) => format!("running the VM: {e}"),
    };
    let console = std::fs::read_to_string(console_log).unwrap_or_default();
    let lines: Vec<&str> = console.lines().collect();
    let tail = &lines[lines.len().saturating_sub(CONSOLE_TAIL_LINES)..];
    match report {
        StopReport::Stderr => {
            eprintln!("runvm: {reason} before the container process exited");
            for line in tail {
                eprintln!("runvm: guest console: {line}");
            }
        }
        StopReport::Container(pending) => {
            let ready = pending.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(ready) = ready {
                report_failure(ready, &format!("{reason} before the container was created"));
            }
            // The container's stderr is the container's alone: the log
            // says why it ends with 255, the reason last (the error line
            // containerd's shim shows).
            for line in tail {
                tracing::warn!("guest console: {line}");
            }
            tracing::error!("{reason} before the container process exited");
        }
    }
}
