//! The monitor's control socket: the server that `start`, `kill`, `ps`,
//! `pause`, `resume`, `events` and `update` reach. A pod member's host
//! process serves its member's the same way, without a VM of its own:
//! its requests name the member's process, and what acts on the whole VM
//! (pause, resume) or on the first container's cgroup (events, update) is
//! refused.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use proto::agent::{member_init_exec_id, ExitStatus, Request, Response, INIT_EXEC_ID};
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

/// The VM a first container's monitor owns.
pub(super) struct OwnVm {
    /// Its size, which `update` cannot exceed.
    pub(super) size: VmSize,
    pub(super) pause: Arc<PauseGate>,
}

/// Whose container a control socket serves.
pub(super) enum Serves {
    /// The VM's first container, with the VM its monitor owns.
    FirstContainer(OwnVm),
    /// A pod member (its id), whose processes are the member's, in
    /// another container's VM.
    Member(String),
}

/// The control socket's server.
pub(super) struct Control {
    /// Whose container this socket serves.
    pub(super) serves: Serves,
    pub(super) agent: AgentClient,
    pub(super) lifecycle: Arc<Mutex<Lifecycle>>,
    pub(super) started: Sender<()>,
    /// Where the control thread reports what ends the monitor.
    pub(super) events: Sender<MonitorEvent>,
}

/// Why a pod member refuses what acts on the VM or the first container.
const NOT_FOR_MEMBERS: &str = "a pod member cannot be paused, resumed, updated or \
     report stats yet: it shares the VM of the pod's first container";

fn refused(message: impl Into<String>) -> Response {
    Response::Error {
        message: message.into(),
    }
}

fn answer(result: Result<Response, AgentError>) -> Response {
    result.unwrap_or_else(|e| refused(e.to_string()))
}

impl Control {
    /// The VM, which only the first container's monitor owns.
    fn own_vm(&self) -> Option<&OwnVm> {
        match &self.serves {
            Serves::FirstContainer(vm) => Some(vm),
            Serves::Member(_) => None,
        }
    }

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
        let Some(vm) = self.own_vm() else {
            return refused(NOT_FOR_MEMBERS);
        };
        let mut lifecycle = lock(&self.lifecycle);
        if lifecycle.paused {
            return refused("the container is already paused");
        }
        match vm.pause.pause(PAUSE_TIMEOUT) {
            Ok(()) => {
                lifecycle.paused = true;
                lifecycle.set_status(Status::Paused);
                Response::Ok
            }
            Err(e) => refused(format!("pausing the VM: {e}")),
        }
    }

    fn resume(&mut self) -> Response {
        let Some(vm) = self.own_vm() else {
            return refused(NOT_FOR_MEMBERS);
        };
        let mut lifecycle = lock(&self.lifecycle);
        if !lifecycle.paused {
            return refused("the container is not paused");
        }
        vm.pause.resume();
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

    /// `request` about the container's own processes as the agent knows
    /// them: the CLI names the container's process [`INIT_EXEC_ID`], and
    /// lists the processes of the VM's first container, whatever
    /// container it asks.
    fn for_own_process(&self, request: Request) -> Request {
        let Serves::Member(member) = &self.serves else {
            return request;
        };
        let own = |exec_id: String| match exec_id == INIT_EXEC_ID {
            true => member_init_exec_id(member),
            false => exec_id,
        };
        match request {
            Request::ListProcesses { .. } => Request::ListProcesses {
                container: Some(member.clone()),
            },
            Request::Start { exec_id } => Request::Start {
                exec_id: own(exec_id),
            },
            Request::Signal {
                exec_id,
                signal,
                all,
            } => Request::Signal {
                exec_id: own(exec_id),
                signal,
                all,
            },
            Request::ResizeTty {
                exec_id,
                rows,
                cols,
            } => Request::ResizeTty {
                exec_id: own(exec_id),
                rows,
                cols,
            },
            other => other,
        }
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
        let request = self.for_own_process(request);
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
            Request::Stats if self.own_vm().is_none() => refused(NOT_FOR_MEMBERS),
            Request::Update { resources } => {
                drop(lifecycle);
                let Some(vm) = self.own_vm() else {
                    return refused(NOT_FOR_MEMBERS);
                };
                if let Err(e) = check_update_fits(&resources, &vm.size) {
                    return refused(e.to_string());
                }
                let resources = Box::new(guest_resources(&resources));
                answer(self.agent.request(&Request::Update { resources }))
            }
            Request::Signal { .. }
            | Request::ResizeTty { .. }
            | Request::ListProcesses { .. }
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
