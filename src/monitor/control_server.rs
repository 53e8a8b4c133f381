//! The monitor's control socket: the server that `start`, `kill`, `ps`,
//! `pause`, `resume`, `events` and `update` reach.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use proto::agent::{ExitStatus, Request, Response};
use proto::frame::{read_message, write_message};
use vmm::seccomp::BpfProgram;
use vmm::PauseGate;

use super::hooks::run_in_guest;
use super::lifecycle::{lock, Lifecycle};
use super::session::spawn_confined;
use super::{MonitorError, MonitorEvent};
use crate::agent_client::{AgentClient, AgentError};
use crate::container::state::Status;
use crate::control::{ControlRequest, MonitorRequest};
use crate::oci::sizing::{check_update_fits, guest_resources, VmSize};

/// How long a pause may take to stop every vCPU.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The control socket's server.
pub(super) struct Control {
    /// The VM's size, which `update` cannot exceed.
    pub(super) size: VmSize,
    pub(super) agent: AgentClient,
    pub(super) lifecycle: Arc<Mutex<Lifecycle>>,
    pub(super) pause: Arc<PauseGate>,
    pub(super) started: Sender<()>,
    /// Where the control thread reports what ends the monitor.
    pub(super) events: Sender<MonitorEvent>,
}

fn refused(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

fn answer(result: Result<Response, AgentError>) -> Response {
    result.unwrap_or_else(|e| refused(e.to_string()))
}

impl Control {
    /// Accepts framed requests on `path`, one client at a time, each with
    /// as many requests as it likes, on a thread confined by `filter`.
    pub(super) fn serve(mut self, path: &Path, filter: BpfProgram) -> Result<(), MonitorError> {
        let _ = std::fs::remove_file(path);
        let listener = virtio::vsock::SocketPath::new(path)
            .and_then(|socket| socket.bind())
            .map_err(|e| MonitorError::Control(path.into(), e))?;
        spawn_confined("control", Arc::new(filter), move || {
            for client in listener.incoming().flatten() {
                self.serve_client(client);
            }
        })?;
        Ok(())
    }

    fn serve_client(&mut self, mut client: UnixStream) {
        while let Ok(request) = read_message::<ControlRequest>(&mut client) {
            let response = match request {
                ControlRequest::Monitor(MonitorRequest::Pause) => self.pause(),
                ControlRequest::Monitor(MonitorRequest::Resume) => self.resume(),
                ControlRequest::Agent(request) => self.pass_on(request, &mut client),
            };
            if write_message(&mut client, &response).is_err() {
                return;
            }
        }
    }

    fn pause(&mut self) -> Response {
        let mut lifecycle = lock(&self.lifecycle);
        if lifecycle.paused {
            return refused("the container is already paused");
        }
        match self.pause.pause(PAUSE_TIMEOUT) {
            Ok(()) => {
                lifecycle.paused = true;
                lifecycle.set_status(Status::Paused);
                Response::Ok
            }
            Err(e) => refused(format!("pausing the VM: {e}")),
        }
    }

    fn resume(&mut self) -> Response {
        let mut lifecycle = lock(&self.lifecycle);
        if !lifecycle.paused {
            return refused("the container is not paused");
        }
        self.pause.resume();
        lifecycle.paused = false;
        let status = if lifecycle.started {
            Status::Running
        } else {
            Status::Created
        };
        lifecycle.set_status(status);
        for signal in std::mem::take(&mut lifecycle.pending_signals) {
            if let Err(e) = self.agent.request(&signal) {
                tracing::warn!("delivering a signal sent while paused: {e}");
            }
        }
        Response::Ok
    }

    /// Has the main thread end the monitor with `status`, and serves
    /// nothing more: the lifecycle stays locked as it is until the end.
    fn end(&self, lifecycle: MutexGuard<'_, Lifecycle>, status: ExitStatus) -> ! {
        let _ = self.events.send(MonitorEvent::End(status));
        let _held = lifecycle;
        loop {
            std::thread::park();
        }
    }

    fn pass_on(&mut self, request: Request, client: &mut UnixStream) -> Response {
        let mut lifecycle = lock(&self.lifecycle);
        match request {
            Request::Signal { signal, .. }
                if !lifecycle.started || (lifecycle.paused && signal == libc::SIGKILL) =>
            {
                // Nothing runs, or nothing can run before SIGKILL lands:
                // the container ends as its process would by the signal.
                lifecycle.set_status(Status::Stopped);
                let _ = write_message(client, &Response::Ok);
                self.end(lifecycle, ExitStatus::Signal(signal))
            }
            Request::Signal { .. } if lifecycle.paused => {
                lifecycle.pending_signals.push(request);
                Response::Ok
            }
            _ if lifecycle.paused => refused("the container is paused"),
            Request::Start { .. } if lifecycle.started => {
                refused("the container was already started")
            }
            Request::Start { .. } => {
                vmm::timing::mark("start received");
                let input = lifecycle.hook_input(Status::Created);
                let hooks = std::mem::take(&mut lifecycle.start_hooks);
                if let Err(e) = run_in_guest("startContainer", &hooks, &input, &self.agent) {
                    // The spec: the container stops and start fails.
                    lifecycle.set_status(Status::Stopped);
                    let message = crate::error_chain::error_chain(&e);
                    let _ = write_message(client, &refused(message));
                    self.end(lifecycle, ExitStatus::Code(1))
                }
                let response = answer(self.agent.request(&request));
                if matches!(response, Response::Started { .. }) {
                    lifecycle.started = true;
                    lifecycle.set_status(Status::Running);
                    let _ = self.started.send(());
                }
                response
            }
            Request::Update { resources } => {
                drop(lifecycle);
                if let Err(e) = check_update_fits(&resources, &self.size) {
                    return refused(e.to_string());
                }
                let resources = Box::new(guest_resources(&resources));
                answer(self.agent.request(&Request::Update { resources }))
            }
            Request::Signal { .. }
            | Request::ResizeTty { .. }
            | Request::ListProcesses
            | Request::Stats => {
                drop(lifecycle);
                answer(self.agent.request(&request))
            }
            _ => refused(
                "the control socket takes pause, resume, start, signal, resize_tty, \
                 list_processes, stats and update",
            ),
        }
    }
}
