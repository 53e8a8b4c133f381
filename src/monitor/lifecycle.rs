//! The container's lifecycle as the monitor's main thread and its control
//! server share it: started, paused, the signals held while paused, and
//! the state file kept current.

use std::path::PathBuf;
use std::sync::Mutex;

use oci_spec::runtime::Hook;
use proto::agent::Request;

use crate::container::state::{State, Status};

/// What the control socket and the main thread share.
pub(super) struct Lifecycle {
    /// The state file to keep current, for containers.
    pub(super) state: Option<(PathBuf, State)>,
    pub(super) started: bool,
    /// The vCPUs are stopped: the agent cannot answer.
    pub(super) paused: bool,
    /// Signals sent while paused, delivered at resume.
    pub(super) pending_signals: Vec<Request>,
    /// startContainer hooks, run in the guest just before the process.
    pub(super) start_hooks: Vec<Hook>,
}

impl Lifecycle {
    /// A container created and not started, its state (in `dir`) saying
    /// so; `start_hooks` run at `start`.
    pub(super) fn created(dir: PathBuf, state: State, start_hooks: Vec<Hook>) -> Self {
        let mut lifecycle = Lifecycle {
            state: Some((dir, state)),
            started: false,
            paused: false,
            pending_signals: Vec::new(),
            start_hooks,
        };
        lifecycle.set_status(Status::Created);
        lifecycle
    }

    /// The container's state JSON with `status`, for hooks.
    pub(super) fn hook_input(&self, status: Status) -> Vec<u8> {
        self.state
            .as_ref()
            .map(|(_, state)| state.hook_input(status))
            .unwrap_or_default()
    }

    pub(super) fn set_status(&mut self, status: Status) {
        if let Some((dir, state)) = &mut self.state {
            state.status = status;
            if let Err(e) = state.save(dir) {
                tracing::warn!("recording status {status}: {e}");
            }
        }
    }
}

pub(super) fn lock(lifecycle: &Mutex<Lifecycle>) -> std::sync::MutexGuard<'_, Lifecycle> {
    // A panicked control thread leaves the state as it was: still usable.
    lifecycle.lock().unwrap_or_else(|e| e.into_inner())
}
