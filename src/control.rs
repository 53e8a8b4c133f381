//! How the CLI and a running monitor talk: the requests the control
//! socket takes, and the line the monitor writes on its ready pipe.

use proto::agent::Request;
use serde::{Deserialize, Serialize};

/// What the monitor writes on its ready fd once the container is created.
pub const READY_LINE: &str = "ready\n";

/// What the control socket takes: the monitor's own requests, or agent
/// requests it passes on (`start`, `signal`, `resize_tty`,
/// `list_processes`, `stats`, `update`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ControlRequest {
    Monitor(MonitorRequest),
    Agent(Request),
}

/// Requests the monitor answers itself.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum MonitorRequest {
    /// Stops the VM's vCPUs.
    Pause,
    /// Lets them run again and delivers the signals sent meanwhile.
    Resume,
}
