//! The monitor: the host process that owns a container's VM. It boots the
//! guest, has the agent run the container process, relays that process's
//! stdio from and to its own fds, forwards the signals it receives, and
//! ends with the process's status: exit N for exit N, death by signal S
//! for death by S — what a parent's waitpid would see from runc.

mod control_server;
pub mod guest_images;
pub mod hooks;
mod lifecycle;
pub mod sandbox;
pub mod session;
pub mod setup;
mod stop_report;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_spec::runtime::{Hook, Hooks, Process, Spec};
use proto::agent::{ExitStatus, INIT_EXEC_ID};
use vmm::seccomp::{self, SeccompError};
use vmm::{BootImages, FsShare, Vm, VmConfig, VmError};

use crate::agent_client::{AgentClient, AgentError};
use crate::container::state::{State, Status};
use crate::container_files::{console_log, vsock_socket};
use crate::control::READY_LINE;
use crate::monitor::hooks::{run_in_guest, run_on_host, HookError};
use crate::monitor::session::{block_forwarded_signals, Session, SessionError};
use crate::oci::bundle::network::{Network, NetworkNamespace};
use crate::oci::sizing::VmSize;
use control_server::Control;
use lifecycle::{lock, Lifecycle};
use rtnl::Rtnl;
use sandbox::network::{NetworkError, Wiring};
use stop_report::{end_if_guest_stops, StopReport};

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
        crate::monitor::sandbox::jail::mount_pid_only_proc()?;
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
                crate::monitor::sandbox::jail::enter(&config.runtime_dir)?;
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

/// One of the spec's hook lists, empty when absent.
fn hook_list(hooks: &Option<Vec<Hook>>) -> Vec<Hook> {
    hooks.clone().unwrap_or_default()
}
