//! A container as the CLI sees it: its directory under `--root`, its
//! state, and the operations each verb performs behind a status check.
//! The monitor process owns the VM; the CLI reaches it through the
//! control socket in the container's directory.

pub mod create;
pub mod exec;
pub mod id;
pub mod pod;
pub mod state;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::container_dir::ContainerDir;
use crate::control::{ControlRequest, MonitorRequest};
use crate::oci::OCI_VERSION;
use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;
use proto::agent::{ProcessInfo, Request, Response};
use proto::frame::{read_message, write_message, FrameError};
use serde::Serialize;
use virtio::vsock::SocketPath;

pub use id::validate_id;
pub use state::{State, Status};

/// How long `delete --force` waits for a killed monitor to go.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a monitor that dropped a request may take to finish exiting.
pub const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Why a container operation failed. The texts match runc's where callers
/// match on them ("does not exist", "already exists", "not running").
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Id(#[from] id::IdError),
    #[error("container \"{0}\" does not exist")]
    NotExist(String),
    #[error("container \"{0}\" already exists")]
    Exists(String),
    #[error("creating {}", .0.display())]
    CreateDir(PathBuf, #[source] std::io::Error),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("cannot start container \"{0}\": it is {1}, not created")]
    NotCreated(String, Status),
    #[error("container \"{0}\" is not running")]
    NotRunning(String),
    #[error("container \"{0}\" is not paused")]
    NotPaused(String),
    #[error("cannot delete container \"{0}\" that is not stopped: {1}")]
    NotStopped(String, Status),
    #[error("cannot {0} container \"{1}\": it is {2}")]
    WrongStatus(&'static str, String, Status),
    #[error("talking to the monitor of \"{0}\"")]
    Control(String, #[source] FrameError),
    #[error("connecting to the monitor of \"{0}\"")]
    Connect(String, #[source] std::io::Error),
    #[error("{0}")]
    Monitor(String),
    #[error("the monitor of \"{0}\" did not exit")]
    KillTimeout(String),
    #[error("removing {}", .0.display())]
    Remove(PathBuf, #[source] std::io::Error),
}

/// What the host knows of a process, behind a trait so status logic is
/// testable without real processes.
pub trait ProcessProbe {
    /// The start time (clock ticks since boot) of `pid` if it exists and
    /// is not a zombie.
    fn live_start_time(&self, pid: i32) -> Option<u64>;
}

/// The real `/proc`.
pub struct ProcFs;

/// Parses `/proc/PID/stat`: the state (field 3) and start time (field 22).
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    // The command name is in parentheses and may hold spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

impl ProcessProbe for ProcFs {
    fn live_start_time(&self, pid: i32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        match parse_stat(&stat)? {
            ('Z' | 'X', _) => None,
            (_, start_time) => Some(start_time),
        }
    }
}

/// The start time of this process, for the state file.
pub fn own_start_time() -> Option<u64> {
    ProcFs.live_start_time(std::process::id() as i32)
}

/// The status a container really has: the recorded one while its monitor
/// lives, `stopped` once it is gone (also after SIGKILL of the monitor).
pub fn derive_status(state: &State, probe: &impl ProcessProbe) -> Status {
    match probe.live_start_time(state.pid) {
        Some(start) if start == state.pid_start_time => state.status,
        _ => Status::Stopped,
    }
}

/// The state JSON `runvm state` prints, shaped like runc's.
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    pub status: Status,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'static str,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: &'a std::collections::BTreeMap<String, String>,
}

impl State {
    /// The OCI state with `status`, as `state` prints it and hooks read it.
    pub fn oci_state(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: OCI_VERSION,
            id: &self.id,
            pid: self.pid,
            status,
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: "",
            annotations: &self.annotations,
        }
    }

    /// The OCI state JSON with `status`, for a hook's stdin.
    pub fn hook_input(&self, status: Status) -> Vec<u8> {
        // Strings, numbers and a string map: serializing cannot fail.
        serde_json::to_vec(&self.oci_state(status)).unwrap_or_default()
    }
}

/// One container.
#[derive(Debug)]
pub struct Container {
    pub dir: ContainerDir,
    pub state: State,
}

/// Makes the container's directory; fails if the id is taken.
pub fn create_dir(root: &Path, id: &str) -> Result<ContainerDir, ContainerError> {
    validate_id(id)?;
    std::fs::create_dir_all(root).map_err(|e| ContainerError::CreateDir(root.into(), e))?;
    let dir = ContainerDir::new(root, id);
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(ContainerError::Exists(id.into()))
        }
        Err(e) => Err(ContainerError::CreateDir(dir.to_path_buf(), e)),
    }
}

impl Container {
    /// Loads container `id` from `root`.
    pub fn load(root: &Path, id: &str) -> Result<Self, ContainerError> {
        validate_id(id)?;
        let dir = ContainerDir::new(root, id);
        if !dir.is_dir() {
            return Err(ContainerError::NotExist(id.into()));
        }
        let state = match State::load(&dir) {
            Ok(state) => state,
            Err(state::StateError::Read(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ContainerError::NotExist(id.into()))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self { dir, state })
    }

    /// Every container under `root`, skipping directories that are not
    /// (yet) containers.
    pub fn list(root: &Path) -> Vec<Self> {
        let Ok(entries) = std::fs::read_dir(root) else {
            return Vec::new();
        };
        let mut containers: Vec<Self> = entries
            .flatten()
            .filter_map(|entry| {
                let id = entry.file_name().into_string().ok()?;
                Self::load(root, &id).ok()
            })
            .collect();
        containers.sort_by(|a, b| a.state.id.cmp(&b.state.id));
        containers
    }

    /// The status, derived from the monitor's liveness.
    pub fn status(&self) -> Status {
        derive_status(&self.state, &ProcFs)
    }

    /// The OCI state.
    pub fn oci_state(&self) -> OciState<'_> {
        self.state.oci_state(self.status())
    }

    fn request(&self, request: &ControlRequest) -> Result<Response, ContainerError> {
        let id = || self.state.id.clone();
        let mut stream = SocketPath::new(&self.dir.control_socket())
            .and_then(|socket| socket.connect())
            .map_err(|e| ContainerError::Connect(id(), e))?;
        write_message(&mut stream, request).map_err(|e| ContainerError::Control(id(), e))?;
        match read_message(&mut stream).map_err(|e| ContainerError::Control(id(), e))? {
            Response::Error { message } => Err(ContainerError::Monitor(message)),
            response => Ok(response),
        }
    }

    /// Starts the container's process; it must be `created`.
    pub fn start(&self) -> Result<(), ContainerError> {
        match self.status() {
            Status::Created => {}
            other => return Err(ContainerError::NotCreated(self.state.id.clone(), other)),
        }
        self.request(&ControlRequest::Agent(Request::Start {
            exec_id: proto::agent::INIT_EXEC_ID.into(),
        }))?;
        // Here, as runc does in `runc start`: the monitor never execs.
        let input = self.state.hook_input(Status::Running);
        if let Err(e) =
            crate::monitor::hooks::run_on_host("poststart", &self.state.poststart_hooks, &input)
        {
            // The spec: a failed poststart hook is a warning.
            tracing::warn!("{}", crate::error_chain::error_chain(&e));
        }
        Ok(())
    }

    /// Sends `signal` to the container's process (or all its processes).
    /// While paused, SIGKILL ends the container at once and other signals
    /// are delivered at resume.
    pub fn kill(&self, signal: Signal, all: bool) -> Result<(), ContainerError> {
        if self.status() == Status::Stopped {
            return Err(ContainerError::NotRunning(self.state.id.clone()));
        }
        let sent = self.request(&ControlRequest::Agent(Request::Signal {
            exec_id: proto::agent::INIT_EXEC_ID.into(),
            signal: signal as i32,
            all,
        }));
        match sent {
            // The signal ended the container, and its monitor went before
            // it answered: delivered all the same.
            Err(ContainerError::Control(..)) if self.ends_within(EXIT_GRACE) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Whether the container is stopped, or deleted, now or within
    /// `grace`. Its state is read afresh each time: a monitor that is
    /// exiting has recorded `stopped` but may still be tearing down its
    /// VM, and drops the requests it had not answered.
    pub fn ends_within(&self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        loop {
            match State::load(&self.dir) {
                Ok(state) if derive_status(&state, &ProcFs) == Status::Stopped => return true,
                Err(state::StateError::Read(_, e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    return true
                }
                Ok(_) | Err(_) => {}
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the VM's vCPUs: nothing in the container runs until resume.
    pub fn pause(&self) -> Result<(), ContainerError> {
        self.expect_live("pause")?;
        self.request(&ControlRequest::Monitor(MonitorRequest::Pause))
            .map(drop)
    }

    /// Lets a paused container run again.
    pub fn resume(&self) -> Result<(), ContainerError> {
        match self.status() {
            Status::Paused => {}
            _ => return Err(ContainerError::NotPaused(self.state.id.clone())),
        }
        self.request(&ControlRequest::Monitor(MonitorRequest::Resume))
            .map(drop)
    }

    /// The processes running in the container, each with the host
    /// process that stands for it: the monitor for the container's
    /// process, the `exec` that relays it for an exec'd one (`None` if it
    /// is gone or unknown).
    pub fn processes(&self) -> Result<Vec<(Option<i32>, ProcessInfo)>, ContainerError> {
        self.expect_live("list processes of")?;
        let processes = match self.request(&ControlRequest::Agent(Request::ListProcesses {
            container: None,
        }))? {
            Response::Processes { processes } => processes,
            other => {
                return Err(ContainerError::Monitor(format!(
                    "unexpected answer {other:?}"
                )))
            }
        };
        Ok(processes
            .into_iter()
            .map(|process| (self.host_process(&process.exec_id), process))
            .collect())
    }

    /// The live host process standing for the process `exec_id`.
    fn host_process(&self, exec_id: &str) -> Option<i32> {
        let own = match self.state.pod {
            Some(_) => proto::agent::member_init_exec_id(&self.state.id),
            None => proto::agent::INIT_EXEC_ID.to_string(),
        };
        if exec_id == own {
            return Some(self.state.pid);
        }
        // An exec id is the agent's answer: only a plain name is a path.
        id::validate_id(exec_id).ok()?;
        live_host_process(&self.dir.exec_records().join(exec_id))
    }

    /// The container's resource usage, from its cgroup in the guest.
    pub fn stats(&self) -> Result<proto::stats::Stats, ContainerError> {
        self.expect_live("read the stats of")?;
        match self.request(&ControlRequest::Agent(Request::Stats))? {
            Response::Stats { stats } => Ok(*stats),
            other => Err(ContainerError::Monitor(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Changes the container's resources within its VM's size.
    pub fn update(&self, resources: LinuxResources) -> Result<(), ContainerError> {
        self.expect_live("update")?;
        self.request(&ControlRequest::Agent(Request::Update {
            resources: Box::new(resources),
        }))
        .map(drop)
    }

    /// Fails unless the container is created or running: the agent can
    /// answer only then.
    fn expect_live(&self, operation: &'static str) -> Result<(), ContainerError> {
        match self.status() {
            Status::Created | Status::Running => Ok(()),
            other => Err(ContainerError::WrongStatus(
                operation,
                self.state.id.clone(),
                other,
            )),
        }
    }

    /// Removes a stopped container; with `force`, kills its monitor first.
    pub fn delete(self, force: bool) -> Result<(), ContainerError> {
        let status = self.status();
        if status != Status::Stopped {
            if !force {
                return Err(ContainerError::NotStopped(self.state.id.clone(), status));
            }
            let pid = nix::unistd::Pid::from_raw(self.state.pid);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        }
        // A monitor that recorded `stopped` may still be exiting; its
        // cgroup can only go once it is gone.
        wait_gone(&self.state.id, self.state.pid, self.state.pid_start_time)?;
        if let (Some(first), Some(root)) = (&self.state.pod, self.dir.parent()) {
            pod::leave(root, first, &self.state.id);
        }
        crate::monitor::sandbox::host_cgroup::HostCgroup::remove_recorded(&self.dir);
        crate::monitor::sandbox::network::remove_recorded(&self.dir);
        let input = self.state.hook_input(Status::Stopped);
        if let Err(e) =
            crate::monitor::hooks::run_on_host("poststop", &self.state.poststop_hooks, &input)
        {
            // The spec: a failed poststop hook is a warning; delete goes on.
            tracing::warn!("{}", crate::error_chain::error_chain(&e));
        }
        std::fs::remove_dir_all(&self.dir)
            .map_err(|e| ContainerError::Remove(self.dir.to_path_buf(), e))
    }
}

/// Waits until the monitor `pid` that started at `start_time` is gone.
fn wait_gone(id: &str, pid: i32, start_time: u64) -> Result<(), ContainerError> {
    let deadline = Instant::now() + KILL_WAIT;
    while ProcFs.live_start_time(pid) == Some(start_time) {
        if Instant::now() > deadline {
            return Err(ContainerError::KillTimeout(id.into()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Records host process `pid` with its start time in `path` (the
/// monitor's in [`ContainerDir::monitor_record`], an exec's host end's
/// under [`ContainerDir::exec_records`]). A process already gone is not recorded.
pub fn record_host_process(path: &Path, pid: i32) -> std::io::Result<()> {
    match ProcFs.live_start_time(pid) {
        Some(start_time) => create::write_atomically(path, &format!("{pid} {start_time}")),
        None => Ok(()),
    }
}

/// The host process recorded in `path`: its pid and start time.
fn recorded_host_process(path: &Path) -> Option<(i32, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (pid, start_time) = text.split_once(' ')?;
    Some((pid.parse().ok()?, start_time.parse().ok()?))
}

/// The pid of the live host process recorded in `path`, if it still runs.
fn live_host_process(path: &Path) -> Option<i32> {
    let (pid, start_time) = recorded_host_process(path)?;
    (ProcFs.live_start_time(pid) == Some(start_time)).then_some(pid)
}

/// `delete --force` of container `id` whose `create` has not finished:
/// its directory holds no state yet. Kills the monitor (and the host
/// hooks it is running, with its host cgroup), takes a pod member out of
/// its pod, and removes the directory.
/// Fails as for an unknown container if there is no such directory.
pub fn delete_unfinished(root: &Path, id: &str) -> Result<(), ContainerError> {
    validate_id(id)?;
    let dir = ContainerDir::new(root, id);
    if !dir.is_dir() {
        return Err(ContainerError::NotExist(id.into()));
    }
    if let Some((pid, start_time)) = recorded_host_process(&dir.monitor_record()) {
        if ProcFs.live_start_time(pid) == Some(start_time) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        wait_gone(id, pid, start_time)?;
    }
    if let Ok(first) = std::fs::read_to_string(dir.pod_record()) {
        pod::leave(root, &first, id);
    }
    crate::monitor::sandbox::host_cgroup::HostCgroup::remove_recorded(&dir);
    match std::fs::remove_dir_all(&dir) {
        // The failed create removed it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.map_err(|e| ContainerError::Remove(dir.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeProcs(Option<u64>);

    impl ProcessProbe for FakeProcs {
        fn live_start_time(&self, _pid: i32) -> Option<u64> {
            self.0
        }
    }

    #[test]
    fn a_container_ends_when_its_monitor_is_gone_or_it_is_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ContainerDir::new(tmp.path(), "c");
        std::fs::create_dir(&dir).unwrap();
        let mut running = state(Status::Running);
        // This process stands in for a live monitor.
        running.pid = std::process::id() as i32;
        running.pid_start_time = own_start_time().unwrap();
        running.save(&dir).unwrap();
        let container = Container {
            dir: dir.clone(),
            state: running.clone(),
        };
        assert!(!container.ends_within(Duration::ZERO));
        running.status = Status::Stopped;
        running.save(&dir).unwrap();
        assert!(container.ends_within(Duration::ZERO), "recorded stopped");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(container.ends_within(Duration::ZERO), "deleted");
    }

    fn state(status: Status) -> State {
        State {
            id: "c".into(),
            pid: 100,
            pid_start_time: 555,
            status,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: String::new(),
            annotations: Default::default(),
            poststart_hooks: Vec::new(),
            poststop_hooks: Vec::new(),
            pod: None,
        }
    }

    /// Answers one request on the control socket in `dir`, bound as the
    /// monitor binds it; returns the request.
    fn fake_monitor(
        dir: &ContainerDir,
        answer: Response,
    ) -> std::thread::JoinHandle<ControlRequest> {
        let listener = SocketPath::new(&dir.control_socket())
            .unwrap()
            .bind()
            .unwrap();
        std::thread::spawn(move || {
            let mut conn = listener.accept().unwrap().0;
            let request: ControlRequest = read_message(&mut conn).unwrap();
            write_message(&mut conn, &answer).unwrap();
            request
        })
    }

    /// A running container in `dir` whose monitor is this process.
    fn running_here(dir: &Path) -> State {
        let mut running = state(Status::Running);
        running.pid = std::process::id() as i32;
        running.pid_start_time = own_start_time().unwrap();
        running.save(dir).unwrap();
        running
    }

    #[test]
    fn processes_come_with_the_host_processes_standing_for_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = create_dir(root, "c").unwrap();
        let running = running_here(&dir);
        std::fs::create_dir(dir.exec_records()).unwrap();
        let mut relay = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let relay_pid = i32::try_from(relay.id()).unwrap();
        record_host_process(&dir.exec_records().join("exec-a"), relay_pid).unwrap();
        // A relay that is gone, its pid now another process's.
        std::fs::write(dir.exec_records().join("exec-b"), format!("{relay_pid} 1")).unwrap();
        let listed = |exec_id: &str, pid| ProcessInfo {
            exec_id: exec_id.into(),
            pid,
        };
        let answer = Response::Processes {
            processes: vec![listed("init", 1), listed("exec-a", 7), listed("exec-b", 9)],
        };
        let monitor = fake_monitor(&dir, answer);
        let processes = Container::load(root, "c").unwrap().processes().unwrap();
        monitor.join().unwrap();
        let host_pids: Vec<_> = processes.iter().map(|(pid, p)| (*pid, p.pid)).collect();
        assert_eq!(
            host_pids,
            [(Some(running.pid), 1), (Some(relay_pid), 7), (None, 9)]
        );
        relay.kill().unwrap();
        relay.wait().unwrap();
    }

    #[test]
    fn the_control_socket_works_under_a_root_as_long_as_dockers() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path();
        // docker's --root, under a deeper directory, and a 64-hex id.
        let root = top
            .join("d".repeat(100))
            .join("var/run/docker/runtime-runc/moby");
        let id = "0123456789abcdef".repeat(4);
        let dir = create_dir(&root, &id).unwrap();
        assert!(dir.control_socket().as_os_str().len() > 200);
        running_here(&dir);
        let monitor = fake_monitor(&dir, Response::Ok);
        Container::load(&root, &id).unwrap().pause().unwrap();
        assert!(matches!(
            monitor.join().unwrap(),
            ControlRequest::Monitor(MonitorRequest::Pause)
        ));
    }

    #[test]
    fn an_unfinished_create_is_deleted_with_its_monitor() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let dir = create_dir(root, "c1").unwrap();
        let mut monitor = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let pid = i32::try_from(monitor.id()).unwrap();
        record_host_process(&dir.monitor_record(), pid).unwrap();
        assert!(matches!(
            Container::load(root, "c1"),
            Err(ContainerError::NotExist(_))
        ));
        std::fs::write(dir.join("console.log"), "booting").unwrap();
        // A pod member's: its share in its first container's goes too (the
        // first container is gone: nothing to ask of its VM).
        std::fs::write(dir.pod_record(), "first").unwrap();
        let member_share = ContainerDir::new(root, "first")
            .share()
            .join(proto::agent::SHARE_MEMBERS)
            .join("c1");
        std::fs::create_dir_all(member_share.join("rootfs")).unwrap();
        delete_unfinished(root, "c1").unwrap();
        assert!(!dir.exists());
        assert!(!member_share.exists());
        let status = monitor.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        assert!(matches!(
            delete_unfinished(root, "c1"),
            Err(ContainerError::NotExist(_))
        ));
    }

    #[test]
    fn live_monitor_keeps_the_recorded_status() {
        assert_eq!(
            derive_status(&state(Status::Running), &FakeProcs(Some(555))),
            Status::Running
        );
        assert_eq!(
            derive_status(&state(Status::Created), &FakeProcs(Some(555))),
            Status::Created
        );
    }

    #[test]
    fn gone_or_reused_pid_means_stopped() {
        assert_eq!(
            derive_status(&state(Status::Running), &FakeProcs(None)),
            Status::Stopped
        );
        assert_eq!(
            derive_status(&state(Status::Running), &FakeProcs(Some(1))),
            Status::Stopped
        );
    }

    #[test]
    fn stat_parsing_handles_odd_names() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(parse_stat(stat), Some(('S', 98765)));
        assert_eq!(parse_stat("garbage"), None);
        assert!(own_start_time().is_some());
    }

    #[test]
    fn create_dir_refuses_duplicates_and_bad_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        create_dir(root, "c1").unwrap();
        assert!(matches!(
            create_dir(root, "c1"),
            Err(ContainerError::Exists(_))
        ));
        assert!(matches!(
            create_dir(root, "../x"),
            Err(ContainerError::Id(_))
        ));
        assert!(matches!(
            Container::load(root, "c1"),
            Err(ContainerError::NotExist(_))
        ));
        assert!(matches!(
            Container::load(root, "nope"),
            Err(ContainerError::NotExist(_))
        ));
    }
}
