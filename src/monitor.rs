//! The monitor: the host process that owns a container's VM. It boots the
//! guest, has the agent run the container process, relays that process's
//! stdio from and to its own fds, forwards the signals it receives, and
//! ends with the process's status: exit N for exit N, death by signal S
//! for death by S — what a parent's waitpid would see from runc.

pub mod sandbox;

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use oci_spec::runtime::{Hook, Hooks, Process, Spec};
use proto::agent::{ExitStatus, Request, Response};
use proto::frame::{read_message, write_message};
use serde::{Deserialize, Serialize};
use vmm::seccomp::{self, BpfProgram, SeccompError};
use vmm::{BootImages, FsShare, PauseGate, Vm, VmConfig, VmError, VmExit};

use crate::agent_client::{AgentClient, AgentError};
use crate::bundle::network::{Network, NetworkNamespace};
use crate::container::{State, Status};
use crate::hooks::{run_in_guest, run_on_host, HookError};
use crate::session::{block_forwarded_signals, spawn_confined, Session, SessionError};
use crate::sizing::{check_update_fits, guest_resources, VmSize};
use rtnl::Rtnl;
use sandbox::network::{NetworkError, Wiring};

/// The exec id of the container's main process.
pub use proto::agent::INIT_EXEC_ID;

/// What the monitor writes on its ready fd once the container is created.
pub const READY_LINE: &str = "ready\n";

/// How long the main thread, having lost the agent, leaves the vm thread
/// to report a VM that stopped.
const VM_STOP_REPORT_GRACE: Duration = Duration::from_secs(1);

/// Lines of the guest console shown when the guest dies early.
const CONSOLE_TAIL_LINES: usize = 20;

/// Why the monitor could not run the container.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("starting the VM")]
    Vm(#[from] VmError),
    #[error("the guest agent")]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("starting a monitor thread")]
    Thread(#[source] io::Error),
    #[error("listening on the control socket {}", .0.display())]
    Control(PathBuf, #[source] io::Error),
    #[error("creating the console log {}", .0.display())]
    ConsoleLog(PathBuf, #[source] io::Error),
    #[error("creating the runtime directory {}", .0.display())]
    RuntimeDir(PathBuf, #[source] io::Error),
    #[error("changing to /")]
    Chdir(#[source] io::Error),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error("building the monitor's seccomp filters")]
    Seccomp(#[source] SeccompError),
    #[error("entering the monitor's jail")]
    Jail(#[from] crate::jail::JailError),
    #[error("wiring the container's network")]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Netns(#[from] sandbox::netns::NetnsError),
}

/// Everything the monitor needs to run one container.
pub struct MonitorConfig<'a> {
    /// vCPUs.
    pub vcpus: u8,
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// Kernel, initrd and command line.
    pub images: BootImages<'a>,
    /// The container process.
    pub process: Process,
    /// Where the monitor keeps its sockets.
    pub runtime_dir: PathBuf,
    /// A socket on which the monitor accepts agent requests for the
    /// container (signal, resize) from other host processes.
    pub control_socket: Option<PathBuf>,
    /// How long the guest may take to boot to its agent.
    pub agent_timeout: Duration,
    /// A container: its spec for the agent (paths relative to the share)
    /// and the staged share directory served over virtio-fs.
    pub container: Option<ContainerSetup>,
    /// When the process starts.
    pub launch: Launch,
}

/// The container side of a monitor started by `create`.
pub struct ContainerSetup {
    /// The spec as the agent gets it (see `proto::agent::SHARE_TAG`).
    pub spec: Spec,
    /// The directory served to the guest as the share.
    pub share_dir: PathBuf,
    /// The network namespace the monitor is in, and whether its
    /// interfaces become the VM's.
    pub network: Network,
}

/// When the monitor starts the container process.
pub enum Launch {
    /// As soon as it is created (`runvm boot -- COMMAND`).
    Immediately,
    /// When `runvm start` asks: the monitor writes `created` into the state
    /// in `state_dir`, reports on `ready` that creation is done, and waits.
    OnStart {
        ready: File,
        state_dir: PathBuf,
        state: Box<State>,
        /// The spec's hooks: the monitor runs prestart, createRuntime,
        /// createContainer and startContainer; `start` runs poststart and
        /// `delete` poststop, so that no filtered thread ever execs.
        hooks: Box<Hooks>,
        /// The network namespace the monitor left for the container's:
        /// where the host hooks run, as runc runs them.
        runtime_netns: File,
    },
}

/// What the control socket and the main thread share.
struct Lifecycle {
    /// The state file to keep current, for containers.
    state: Option<(PathBuf, State)>,
    started: bool,
    /// The vCPUs are stopped: the agent cannot answer.
    paused: bool,
    /// Signals sent while paused, delivered at resume.
    pending_signals: Vec<Request>,
    /// startContainer hooks, run in the guest just before the process.
    start_hooks: Vec<Hook>,
}

impl Lifecycle {
    /// The container's state JSON with `status`, for hooks.
    fn hook_input(&self, status: Status) -> Vec<u8> {
        self.state
            .as_ref()
            .map(|(_, state)| state.hook_input(status))
            .unwrap_or_default()
    }

    fn set_status(&mut self, status: Status) {
        if let Some((dir, state)) = &mut self.state {
            state.status = status;
            if let Err(e) = state.save(dir) {
                tracing::warn!("recording status {status}: {e}");
            }
        }
    }
}

/// The hybrid-vsock socket of the VM in `runtime_dir`.
pub fn vsock_socket(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("vsock.sock")
}

/// The guest's serial console log in `runtime_dir`.
pub fn console_log(runtime_dir: &Path) -> PathBuf {
    runtime_dir.join("console.log")
}

/// Runs the container to its end and returns its status. Blocks the
/// forwarded signals in this thread first, so every thread started here
/// inherits the mask and only the forwarder receives them.
pub fn run(config: MonitorConfig) -> Result<ExitStatus, MonitorError> {
    let signals = block_forwarded_signals()?;
    // Built before any thread: the main thread installs it once the
    // container runs, the control thread its own at once.
    let supervisor_filter = seccomp::supervisor_filter().map_err(MonitorError::Seccomp)?;
    let control_filter = seccomp::control_filter().map_err(MonitorError::Seccomp)?;

    std::fs::create_dir_all(&config.runtime_dir)
        .map_err(|e| MonitorError::RuntimeDir(config.runtime_dir.clone(), e))?;
    if let Launch::OnStart {
        state,
        hooks,
        runtime_netns,
        ..
    } = &config.launch
    {
        // Before the VM is built: what these hooks put in the monitor's
        // network namespace (docker's veth) becomes the VM's network.
        let creating = state.hook_input(Status::Creating);
        sandbox::netns::run_in(runtime_netns, || {
            run_on_host("prestart", &hook_list(hooks.prestart()), &creating)?;
            run_on_host(
                "createRuntime",
                &hook_list(hooks.create_runtime()),
                &creating,
            )
        })??;
    }
    // After the hooks: what they put in the namespace is the VM's network.
    let mut wiring = match &config.container {
        Some(container) if container.network.devices => {
            Some(wire_network(&container.network, &config.runtime_dir)?)
        }
        _ => None,
    };
    if config.container.is_some() {
        // A thread that copies its working directory (the FUSE server's
        // unshare(CLONE_FS)) copies the root, which the jail's pivot_root
        // moves; any other would stay on the host.
        std::env::set_current_dir("/").map_err(MonitorError::Chdir)?;
        crate::jail::mount_pid_only_proc()?;
    }
    let uds = vsock_socket(&config.runtime_dir);
    let _ = std::fs::remove_file(&uds);
    let vm_config = VmConfig {
        vcpus: config.vcpus,
        memory_mib: config.memory_mib,
        images: BootImages {
            kernel: config.images.kernel,
            initrd: config.images.initrd,
            cmdline: config.images.cmdline,
            pvh: config.images.pvh,
        },
        vsock_uds: Some(uds.clone()),
        fs_share: config.container.as_ref().map(|c| FsShare {
            tag: proto::agent::SHARE_TAG.to_string(),
            dir: c.share_dir.clone(),
        }),
        net: wiring
            .as_mut()
            .map(|w| std::mem::take(&mut w.devices))
            .unwrap_or_default(),
    };
    // The guest's console goes to a log, never into the container's stdio.
    let log_path = console_log(&config.runtime_dir);
    let console =
        File::create(&log_path).map_err(|e| MonitorError::ConsoleLog(log_path.clone(), e))?;
    let vm = Vm::new(&vm_config, console)?;
    if config.container.is_some() {
        crate::jail::unmount_pid_only_proc()?;
    }
    let pause = vm.pause_gate();
    // Until `create` has its answer, a guest that stops is reported to it.
    let pending_ready = match &config.launch {
        Launch::OnStart { ready, .. } => Some(Arc::new(Mutex::new(ready.try_clone().ok()))),
        Launch::Immediately => None,
    };
    let report = match &pending_ready {
        Some(pending) => StopReport::Container(pending.clone()),
        None => StopReport::Stderr,
    };
    std::thread::Builder::new()
        .name("vm".into())
        .spawn(move || end_if_guest_stops(vm.run(), &log_path, report))
        .map_err(MonitorError::Thread)?;

    let mut agent = AgentClient::connect(&uds, config.agent_timeout)?;
    vmm::timing::mark("agent reached");
    if let Some(wiring) = wiring.filter(|w| !w.config.interfaces.is_empty()) {
        agent.configure_network(&wiring.config)?;
    }
    if let Some(container) = &config.container {
        agent.create_container(&container.spec)?;
        vmm::timing::mark("container created");
    }
    let mut session = Session::create(agent, INIT_EXEC_ID, &config.process)?;
    vmm::timing::mark("streams attached");

    let (started_tx, started_rx) = channel();
    let (lifecycle, ready) = match config.launch {
        Launch::Immediately => {
            session.start()?;
            (
                Lifecycle {
                    state: None,
                    started: true,
                    paused: false,
                    pending_signals: Vec::new(),
                    start_hooks: Vec::new(),
                },
                None,
            )
        }
        Launch::OnStart {
            ready,
            state_dir,
            state,
            hooks,
            runtime_netns,
        } => {
            // No hook of the monitor's runs on the host from here on.
            drop(runtime_netns);
            // The VM and the container are up; `create` has not returned.
            let creating = state.hook_input(Status::Creating);
            let guest_hooks = hook_list(hooks.create_container());
            run_in_guest("createContainer", &guest_hooks, &creating, session.agent())?;
            // No host hook runs in the monitor from here on: into the jail.
            if config.container.is_some() {
                crate::jail::enter(&config.runtime_dir)?;
            }
            let mut lifecycle = Lifecycle {
                state: Some((state_dir, *state)),
                started: false,
                paused: false,
                pending_signals: Vec::new(),
                start_hooks: hook_list(hooks.start_container()),
            };
            lifecycle.set_status(Status::Created);
            (lifecycle, Some(ready))
        }
    };
    let lifecycle = Arc::new(Mutex::new(lifecycle));
    if let Some(path) = &config.control_socket {
        let control = Control {
            size: VmSize {
                vcpus: config.vcpus,
                memory_mib: config.memory_mib,
            },
            agent: session.agent().try_clone()?,
            lifecycle: lifecycle.clone(),
            pause,
            started: started_tx,
        };
        control.serve(path, control_filter)?;
    }
    // After `create` returned, nobody reads the ready pipe: the log is
    // where a failure is seen, never the container's stderr.
    let container_created = ready.is_some();
    if let Some(mut ready) = ready {
        if let Some(pending) = &pending_ready {
            // From here on a stopping guest is the log's business.
            drop(pending.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
        // `create` returns now; a failed write means it is gone, and
        // `start` will find the state anyway.
        let _ = ready.write_all(READY_LINE.as_bytes());
        drop(ready);
        // Every sender lives in the control thread, which runs for the
        // monitor's life.
        let _ = started_rx.recv();
    }

    let status = session.wait(signals, Some(&supervisor_filter));
    vmm::timing::mark("exit");
    lock(&lifecycle).set_status(Status::Stopped);
    status.map_err(|e| {
        // The agent's connections drop when the VM goes down; the vm
        // thread then reports why and ends the process within moments.
        // Only if it does not is the dropped connection the story.
        std::thread::sleep(VM_STOP_REPORT_GRACE);
        if container_created {
            tracing::error!("{}", crate::commands::error_chain(&e));
        }
        e.into()
    })
}

/// Joins the interfaces of the monitor's network namespace to the VM,
/// and records a namespace the caller named for `delete` to part.
fn wire_network(network: &Network, dir: &Path) -> Result<Wiring, NetworkError> {
    let mut rtnl = Rtnl::open().map_err(NetworkError::Open)?;
    let wiring = sandbox::network::wire(&mut rtnl)?;
    if let NetworkNamespace::Join(path) = &network.namespace {
        if let Err(e) = sandbox::network::record(dir, path, &wiring) {
            wiring.unwire(&mut rtnl);
            return Err(NetworkError::Record(e));
        }
    }
    Ok(wiring)
}

/// One of the spec's hook lists, empty when absent.
fn hook_list(hooks: &Option<Vec<Hook>>) -> Vec<Hook> {
    hooks.clone().unwrap_or_default()
}

fn lock(lifecycle: &Mutex<Lifecycle>) -> std::sync::MutexGuard<'_, Lifecycle> {
    // A panicked control thread leaves the state as it was: still usable.
    lifecycle.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the monitor says why the guest stopped early.
enum StopReport {
    /// `runvm boot`: the user's terminal.
    Stderr,
    /// A container: the ready pipe while `create` waits on it; the log
    /// always (stderr is the container's).
    Container(Arc<Mutex<Option<File>>>),
}

/// Ends the monitor if the guest stops before the container process has:
/// there is nothing left to wait for.
fn end_if_guest_stops(result: Result<VmExit, VmError>, console_log: &Path, report: StopReport) {
    let reason = match result {
        Ok(VmExit::PoweredOff(status)) => format!("the guest powered off with status {status}"),
        Ok(VmExit::Reset) => "the guest reset".to_string(),
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
            if let Some(mut ready) = ready {
                let _ = writeln!(ready, "error: {reason} before the container was created");
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
    std::process::exit(255);
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

/// How long a pause may take to stop every vCPU.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(10);

/// The control socket's server.
struct Control {
    /// The VM's size, which `update` cannot exceed.
    size: VmSize,
    agent: AgentClient,
    lifecycle: Arc<Mutex<Lifecycle>>,
    pause: Arc<PauseGate>,
    started: Sender<()>,
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
    fn serve(mut self, path: &Path, filter: BpfProgram) -> Result<(), MonitorError> {
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
                mirror_exit(ExitStatus::Signal(signal));
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
                    let message = crate::commands::error_chain(&e);
                    let _ = write_message(client, &refused(message));
                    std::process::exit(1);
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

/// Ends this process the way the container process ended: exit N, or
/// death by the same signal (default disposition restored and unblocked
/// first). Falls back to exit 128+S, the shell's convention, if the
/// signal does not kill (SIGCHLD-like defaults).
pub fn mirror_exit(status: ExitStatus) -> ! {
    match status {
        ExitStatus::Code(code) => std::process::exit(code),
        ExitStatus::Signal(number) => {
            if let Ok(signal) = Signal::try_from(number) {
                // SAFETY: restoring the default disposition has no
                // preconditions; no handler state is touched.
                let _ = unsafe {
                    nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)
                };
                let mut set = SigSet::empty();
                set.add(signal);
                let _ = set.thread_unblock();
                let _ = nix::sys::signal::raise(signal);
            }
            std::process::exit(128 + number)
        }
    }
}
