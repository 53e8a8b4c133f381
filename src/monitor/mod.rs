//! The monitor: the host process that owns a container's VM. It boots the
//! guest, has the agent run the container process, relays that process's
//! stdio from and to its own fds, forwards the signals it receives, and
//! ends with the process's status: exit N for exit N, death by signal S
//! for death by S — what a parent's waitpid would see from runc.
//!
//! Its threads report what ends it (the process ended, the guest stopped,
//! a container that never started was killed) as a [`MonitorEvent`] to
//! the main thread, which alone decides how the process ends: the
//! container's own work runs on the "container" thread, and the main
//! thread only waits for the first event.

mod control_server;
pub mod guest_images;
pub mod hooks;
mod lifecycle;
mod member;
pub mod sandbox;
pub mod seccomp;
pub mod session;
pub mod setup;
mod stop_report;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use guest_images::{GuestImages, Image};
use nix::sys::signal::SigSet;
use oci_spec::runtime::{Hook, Hooks, Process, Spec};
use proto::agent::{ExitStatus, INIT_EXEC_ID};
use virtio::fs::CacheMode;
use vmm::seccomp::{confine, supervisor_filter, BpfProgram, SeccompError, ThreadCaps};
use vmm::{BootImages, FsShare, Vm, VmConfig, VmError};

use crate::agent_client::{AgentClient, AgentError};
use crate::container::state::{State, Status};
use crate::container_dir::{console_log, vsock_socket};
use crate::control::report_ready;
use crate::monitor::hooks::{run_in_guest, run_on_host, HookError};
use crate::monitor::session::{block_forwarded_signals, Session, SessionError};
use crate::oci::bundle::network::{Network, NetworkNamespace};
use crate::oci::sizing::VmSize;
use control_server::{Control, OwnVm, Serves};
use lifecycle::{lock, Lifecycle};
use rtnl::Rtnl;
use sandbox::network::{NetworkError, Wiring};
use stop_report::{report_guest_stop, StopReport};

/// How long the main thread, having lost the agent, leaves the vm thread
/// to report a VM that stopped.
const VM_STOP_REPORT_GRACE: Duration = Duration::from_secs(1);

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
    #[error("the container thread ended without a word")]
    ContainerThread,
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
    Jail(#[from] crate::monitor::sandbox::jail::JailError),
    #[error("wiring the container's network")]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Netns(#[from] sandbox::netns::NetnsError),
}

/// What ends the monitor, reported to its main thread.
pub(crate) enum MonitorEvent {
    /// The container's process ended (or setting it up failed).
    ProcessEnded(Result<ExitStatus, MonitorError>),
    /// The monitor ends as a process with this status would: the guest
    /// stopped first (255), a container that never started was killed
    /// (its signal), a startContainer hook failed (1).
    End(ExitStatus),
}

/// Everything the monitor needs to run one container.
pub struct MonitorConfig {
    /// vCPUs.
    pub vcpus: u8,
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// Kernel, initrd and command line.
    pub images: GuestImages,
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
    /// How much the guest caches of it.
    pub share_cache: CacheMode,
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
        /// The namespaces the monitor left for the container's (network
        /// first): where the host hooks run, as runc runs them.
        runtime_namespaces: Vec<File>,
    },
}

/// Runs the container to its end and returns how the monitor ends: the
/// process's status, or what its threads reported first.
pub fn run(config: MonitorConfig) -> Result<ExitStatus, MonitorError> {
    supervise(move |signals, supervisor_filter, control_filter, events| {
        run_container(config, signals, supervisor_filter, control_filter, events)
    })
}

/// Runs `work` (what sets up and runs the container) on the container
/// thread and returns how the monitor ends: what `work` returns, or what
/// a thread reported first. Blocks the forwarded signals in this thread
/// first, so every thread started here inherits the mask and only the
/// forwarder receives them. `work` gets that mask, the supervisor's
/// seccomp filter, the control thread's, and where to report.
fn supervise(
    work: impl FnOnce(
            SigSet,
            &BpfProgram,
            BpfProgram,
            Sender<MonitorEvent>,
        ) -> Result<ExitStatus, MonitorError>
        + Send
        + 'static,
) -> Result<ExitStatus, MonitorError> {
    let signals = block_forwarded_signals()?;
    // Built before any thread: each installs its own, the container
    // thread once the container runs, the others at once.
    let supervisor_filter = supervisor_filter().map_err(MonitorError::Seccomp)?;
    let main_filter = supervisor_filter.clone();
    let control_filter = seccomp::control_filter().map_err(MonitorError::Seccomp)?;
    let (events, ended) = channel();
    std::thread::Builder::new()
        .name("container".into())
        .spawn(move || {
            let result = work(signals, &supervisor_filter, control_filter, events.clone());
            let _ = events.send(MonitorEvent::ProcessEnded(result));
        })
        .map_err(MonitorError::Thread)?;
    // This thread only waits from here on (after the container thread
    // started: the hooks it runs must not inherit the filter).
    confine(&main_filter, ThreadCaps::None).map_err(MonitorError::Seccomp)?;
    match ended.recv() {
        Ok(MonitorEvent::ProcessEnded(result)) => result,
        Ok(MonitorEvent::End(status)) => Ok(status),
        Err(_) => Err(MonitorError::ContainerThread),
    }
}

/// The container thread: sets the container up, boots the VM, runs the
/// process to its end and returns its status.
fn run_container(
    config: MonitorConfig,
    signals: SigSet,
    supervisor_filter: &BpfProgram,
    control_filter: BpfProgram,
    events: Sender<MonitorEvent>,
) -> Result<ExitStatus, MonitorError> {
    std::fs::create_dir_all(&config.runtime_dir)
        .map_err(|e| MonitorError::RuntimeDir(config.runtime_dir.clone(), e))?;
    if let Launch::OnStart {
        state,
        hooks,
        runtime_namespaces,
        ..
    } = &config.launch
    {
        // Before the VM is built: what these hooks put in the monitor's
        // network namespace (docker's veth) becomes the VM's network.
        run_runtime_hooks(
            runtime_namespaces,
            hooks,
            &state.hook_input(Status::Creating),
        )?;
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
        crate::monitor::sandbox::jail::mount_pid_only_proc()?;
    }
    let uds = vsock_socket(&config.runtime_dir);
    let _ = std::fs::remove_file(&uds);
    let vm_config = VmConfig {
        vcpus: config.vcpus,
        memory_mib: config.memory_mib,
        images: BootImages {
            kernel: config.images.kernel.bytes(),
            initrd: config.images.initrd.as_ref().map(Image::bytes),
            cmdline: &config.images.cmdline,
            pvh: config.images.pvh,
        },
        vsock_uds: Some(uds.clone()),
        fs_share: config.container.as_ref().map(|c| FsShare {
            tag: proto::agent::SHARE_TAG.to_string(),
            dir: c.share_dir.clone(),
            cache: c.share_cache,
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
    config.images.release_embedded();
    if config.container.is_some() {
        crate::monitor::sandbox::jail::unmount_pid_only_proc()?;
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
    let vm_events = events.clone();
    std::thread::Builder::new()
        .name("vm".into())
        .spawn(move || {
            // Once the guest stops there is nothing left to wait for.
            report_guest_stop(vm.run(), &log_path, report);
            let _ = vm_events.send(MonitorEvent::End(ExitStatus::Code(255)));
        })
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
            runtime_namespaces,
        } => {
            // No hook of the monitor's runs on the host from here on.
            drop(runtime_namespaces);
            // The VM and the container are up; `create` has not returned.
            let creating = state.hook_input(Status::Creating);
            let guest_hooks = hook_list(hooks.create_container());
            run_in_guest("createContainer", &guest_hooks, &creating, session.agent())?;
            // No host hook runs in the monitor from here on: into the jail.
            if config.container.is_some() {
                crate::monitor::sandbox::jail::enter(&config.runtime_dir)?;
            }
            let start_hooks = hook_list(hooks.start_container());
            let lifecycle = Lifecycle::created(state_dir, *state, start_hooks);
            (lifecycle, Some(ready))
        }
    };
    let lifecycle = Arc::new(Mutex::new(lifecycle));
    if let Some(path) = &config.control_socket {
        let control = Control {
            serves: Serves::FirstContainer(OwnVm {
                size: VmSize {
                    vcpus: config.vcpus,
                    memory_mib: config.memory_mib,
                },
                pause,
            }),
            agent: session.agent().try_clone()?,
            lifecycle: lifecycle.clone(),
            started: started_tx,
            events,
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
        // `create` returns now; if it is gone, `start` will find the
        // state anyway.
        report_ready(&mut ready);
        drop(ready);
        // Every sender lives in the control thread, which runs for the
        // monitor's life.
        let _ = started_rx.recv();
    }

    let status = session.wait(signals, Some(supervisor_filter));
    vmm::timing::mark("exit");
    lock(&lifecycle).set_status(Status::Stopped);
    status.map_err(|e| {
        // The agent's connections drop when the VM goes down; the vm
        // thread then reports why and the monitor ends within moments.
        // Only if it does not is the dropped connection the story.
        std::thread::sleep(VM_STOP_REPORT_GRACE);
        if container_created {
            tracing::error!("{}", crate::error_chain::error_chain(&e));
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

/// Runs the prestart and createRuntime hooks, with `creating` (the state
/// JSON) on their stdin, in the runtime's `namespaces`.
fn run_runtime_hooks(
    namespaces: &[File],
    hooks: &Hooks,
    creating: &[u8],
) -> Result<(), MonitorError> {
    sandbox::netns::run_in(namespaces, || {
        run_on_host("prestart", &hook_list(hooks.prestart()), creating)?;
        run_on_host(
            "createRuntime",
            &hook_list(hooks.create_runtime()),
            creating,
        )
    })??;
    Ok(())
}

/// One of the spec's hook lists, empty when absent.
fn hook_list(hooks: &Option<Vec<Hook>>) -> Vec<Hook> {
    hooks.clone().unwrap_or_default()
}
