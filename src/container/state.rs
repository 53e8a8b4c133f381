//! `state.json`: what runvm remembers about a container, written
//! atomically (a temporary file renamed over the old one).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::container_dir::STATE_FILE;

/// A container's lifecycle status, as runc reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        };
        f.write_str(name)
    }
}

/// What is stored for one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// The monitor's pid: the container's pid on the host.
    pub pid: i32,
    /// The monitor's start time (clock ticks since boot, /proc/PID/stat
    /// field 22), so a reused pid is not taken for the monitor.
    pub pid_start_time: u64,
    /// The status the monitor last recorded; `stopped` is also derived
    /// when the monitor is gone.
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The spec's poststart hooks, which `start` runs once the process
    /// runs (the monitor never execs: its threads are seccomp-confined).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart_hooks: Vec<oci_spec::runtime::Hook>,
    /// The spec's poststop hooks, which `delete` runs after the bundle
    /// may be gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop_hooks: Vec<oci_spec::runtime::Hook>,
    /// For a pod member: the id of the pod's first container, whose VM it
    /// runs in (under the same `--root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{} is corrupt", .0.display())]
    Parse(PathBuf, #[source] serde_json::Error),
    #[error("writing {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
}

impl State {
    /// Reads the state in `dir`.
    pub fn load(dir: &Path) -> Result<Self, StateError> {
        let path = dir.join(STATE_FILE);
        let text = std::fs::read(&path).map_err(|e| StateError::Read(path.clone(), e))?;
        serde_json::from_slice(&text).map_err(|e| StateError::Parse(path, e))
    }

    /// Writes the state into `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            // Serializing plain data into a Vec cannot fail.
            let body = serde_json::to_vec(self).unwrap_or_default();
            file.write_all(&body)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StateError::Write(path, e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            id: "c1".into(),
            pid: 42,
            pid_start_time: 1234,
            status: Status::Created,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-11-23T00:00:00Z".into(),
            annotations: Default::default(),
            poststart_hooks: Vec::new(),
            poststop_hooks: Vec::new(),
            pod: None,
        }
    }

    #[test]
    fn a_pod_member_records_its_first_container() {
        let tmp = tempfile::tempdir().unwrap();
        let mut state = sample();
        state.save(tmp.path()).unwrap();
        let text = std::fs::read_to_string(tmp.path().join(STATE_FILE)).unwrap();
        assert!(!text.contains("pod"), "{text}");
        state.pod = Some("first".into());
        state.save(tmp.path()).unwrap();
        assert_eq!(
            State::load(tmp.path()).unwrap().pod.as_deref(),
            Some("first")
        );
    }

    #[test]
    fn saves_and_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut state = sample();
        state.save(dir).unwrap();
        assert_eq!(State::load(dir).unwrap(), state);
        state.status = Status::Running;
        state.save(dir).unwrap();
        assert_eq!(State::load(dir).unwrap().status, Status::Running);
        let leftovers: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
        std::fs::write(dir.join(STATE_FILE), b"{not json").unwrap();
        assert!(matches!(State::load(dir), Err(StateError::Parse(..))));
    }

    #[test]
    fn status_names_are_runcs() {
        assert_eq!(
            serde_json::to_string(&Status::Paused).unwrap(),
            "\"paused\""
        );
        assert_eq!(Status::Stopped.to_string(), "stopped");
    }
}
