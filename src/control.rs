//! How the CLI and a running monitor talk: the requests the control
//! socket takes, and the ready pipe, on which the monitor (or an exec
//! relay) reports one line to the `create` (or `exec --detach`) waiting
//! for it: `ready`, or `error: MESSAGE`.

use std::io::{BufRead, BufReader, Read, Write};

use proto::agent::Request;
use serde::{Deserialize, Serialize};

/// The line that says the container (or exec'd process) is up.
const READY_LINE: &str = "ready\n";
/// What starts the line that says why it is not.
const ERROR_PREFIX: &str = "error: ";

/// What the other end of a ready pipe reported.
#[derive(Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// It failed, and said why.
    Failed(String),
    /// It ended without a word.
    Gone,
}

/// Reports on `ready` that all is up. A failed write means the reader is
/// gone: nobody is left to tell.
pub fn report_ready(mut ready: impl Write) {
    let _ = ready.write_all(READY_LINE.as_bytes());
}

/// Reports on `ready` why it failed (one line); as [`report_ready`], a
/// reader that is gone is not an error.
pub fn report_failure(mut ready: impl Write, message: &str) {
    let _ = writeln!(ready, "{ERROR_PREFIX}{message}");
}

/// Reads the one line reported on `ready`. One line: the writer may keep
/// the pipe open after it, so EOF is not the end of the report.
pub fn read_readiness(ready: impl Read) -> Readiness {
    let mut line = String::new();
    let _ = BufReader::new(ready).read_line(&mut line);
    if line == READY_LINE {
        return Readiness::Ready;
    }
    match line.trim_end().strip_prefix(ERROR_PREFIX) {
        Some(message) => Readiness::Failed(message.to_string()),
        None => Readiness::Gone,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_written() {
        let mut pipe = Vec::new();
        report_ready(&mut pipe);
        assert_eq!(read_readiness(&pipe[..]), Readiness::Ready);
        let mut pipe = Vec::new();
        report_failure(&mut pipe, "no rootfs");
        assert_eq!(
            read_readiness(&pipe[..]),
            Readiness::Failed("no rootfs".into())
        );
        assert_eq!(read_readiness(&b""[..]), Readiness::Gone);
        assert_eq!(read_readiness(&b"read"[..]), Readiness::Gone);
    }
}
