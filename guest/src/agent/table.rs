//! The processes the agent knows, each from `CreateProcess` until its
//! status has been collected by `Wait`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use proto::agent::{ExitStatus, ProcessInfo, StreamKind};

use super::container::{self, Container};
use super::process::{SpawnError, Spec, SpecError};
use super::pty;
use super::reaper::{self, SignalError};
use super::{describe, errno_of};

/// Why a request about a process failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("exec_id is empty")]
    EmptyId,
    #[error("no process {0}")]
    Unknown(String),
    #[error("process {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("preparing stdio: {}", describe(*.0))]
    Stdio(Errno),
    #[error("process {0} has no {1} stream")]
    NoStream(String, &'static str),
    #[error("{1} of {0} is already attached")]
    Attached(String, &'static str),
    #[error("{1} of {0} is not attached")]
    NotAttached(String, &'static str),
    #[error("process {0} is already started")]
    Started(String),
    #[error("process {0} is not started")]
    NotStarted(String),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("process {0} has exited")]
    Exited(String),
    #[error("signal {signal} to {id}: {}", describe(*.errno))]
    Signal {
        id: String,
        signal: i32,
        errno: Errno,
    },
    #[error("process {0} has no terminal")]
    NoTerminal(String),
    #[error("resizing the terminal of {id}: {}", describe(*.errno))]
    Resize { id: String, errno: Errno },
    #[error(transparent)]
    Container(#[from] container::Error),
    #[error(transparent)]
    Cgroup(#[from] super::cgroup::Error),
    #[error(transparent)]
    Network(#[from] super::network::Error),
    #[error("no container: create_container first")]
    NoContainer,
    #[error("pod member {0} already exists")]
    MemberExists(String),
    #[error("no pod member {0}")]
    UnknownMember(String),
    #[error("{0:?} is not a pod member id")]
    MemberId(String),
}

fn stream_name(kind: StreamKind) -> &'static str {
    match kind {
        StreamKind::Stdin => "stdin",
        StreamKind::Stdout => "stdout",
        StreamKind::Stderr => "stderr",
        StreamKind::Pty => "pty",
    }
}

/// All processes, by exec id.
#[derive(Default)]
pub struct Table(Mutex<HashMap<String, Arc<Exec>>>);

impl Table {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Exec>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, id: &str) -> Result<Arc<Exec>, Error> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::Unknown(id.to_owned()))
    }

    /// Validates `process` and prepares its stdio under `id`; the process
    /// will run in `container` if there is one.
    pub fn create(
        &self,
        id: String,
        process: &oci_spec::runtime::Process,
        container: Option<Arc<Container>>,
    ) -> Result<(), Error> {
        if id.is_empty() {
            return Err(Error::EmptyId);
        }
        if self.lock().contains_key(&id) {
            return Err(Error::Exists(id));
        }
        // Checking the spec touches the filesystem: not under the lock.
        let spec = Spec::new(process, container)?;
        let exec = Exec::new(id.clone(), spec).map_err(Error::Stdio)?;
        match self.lock().entry(id) {
            Entry::Occupied(entry) => Err(Error::Exists(entry.key().clone())),
            Entry::Vacant(entry) => {
                entry.insert(Arc::new(exec));
                Ok(())
            }
        }
    }

    /// Spawns `id`; a process that fails to start is forgotten.
    pub fn start(&self, id: &str) -> Result<i32, Error> {
        let exec = self.get(id)?;
        let started = exec.start();
        if matches!(started, Err(Error::Spawn(_))) {
            self.remove(&exec);
        }
        started
    }

    /// Waits for `id` to end and its output to be relayed, then forgets it.
    pub fn wait(&self, id: &str) -> Result<ExitStatus, Error> {
        let exec = self.get(id)?;
        let status = exec.wait()?;
        self.remove(&exec);
        Ok(status)
    }

    /// The running processes that `listed` picks.
    pub fn running(&self, listed: impl Fn(&Exec) -> bool) -> Vec<ProcessInfo> {
        let mut running: Vec<ProcessInfo> = self
            .lock()
            .values()
            .filter(|exec| listed(exec))
            .filter_map(|exec| {
                let pid = exec.running_pid()?;
                Some(ProcessInfo {
                    exec_id: exec.id.clone(),
                    pid,
                })
            })
            .collect();
        running.sort_by_key(|info| info.pid);
        running
    }

    fn remove(&self, exec: &Arc<Exec>) {
        let mut table = self.lock();
        if table
            .get(&exec.id)
            .is_some_and(|entry| Arc::ptr_eq(entry, exec))
        {
            table.remove(&exec.id);
        }
    }
}

/// One process.
pub struct Exec {
    pub id: String,
    spec: Spec,
    state: Mutex<State>,
    changed: Condvar,
    /// Read end of a pipe whose write end is closed when the process has
    /// exited (or failed to start): relays poll it for hang-up.
    exit: OwnedFd,
}

struct State {
    phase: Phase,
    /// The host's ends of the streams; taken when attached.
    host: HashMap<StreamKind, Option<OwnedFd>>,
    /// The child's fds 0, 1, 2 until it is spawned.
    child: Option<[OwnedFd; 3]>,
    /// The pty master, kept for resizing.
    master: Option<OwnedFd>,
    /// Write end of the exit pipe, dropped at exit.
    exit_signal: Option<OwnedFd>,
    /// Output relays still copying.
    relays: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running(i32),
    Exited(ExitStatus),
    Failed,
}

impl Exec {
    fn new(id: String, spec: Spec) -> Result<Self, Errno> {
        let (exit, exit_signal) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let mut host = HashMap::new();
        let (child, master) = match spec.terminal {
            Some(size) => {
                let pty = pty::open(size, spec.container_root())?;
                let child = [
                    pty.slave.try_clone().map_err(|e| errno_of(&e))?,
                    pty.slave.try_clone().map_err(|e| errno_of(&e))?,
                    pty.slave,
                ];
                host.insert(
                    StreamKind::Pty,
                    Some(pty.master.try_clone().map_err(|e| errno_of(&e))?),
                );
                (child, Some(pty.master))
            }
            None => {
                let (stdin, stdin_host) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                let (stdout_host, stdout) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                let (stderr_host, stderr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
                host.insert(StreamKind::Stdin, Some(stdin_host));
                host.insert(StreamKind::Stdout, Some(stdout_host));
                host.insert(StreamKind::Stderr, Some(stderr_host));
                ([stdin, stdout, stderr], None)
            }
        };
        Ok(Exec {
            id,
            spec,
            state: Mutex::new(State {
                phase: Phase::Created,
                host,
                child: Some(child),
                master,
                exit_signal: Some(exit_signal),
                relays: 0,
            }),
            changed: Condvar::new(),
            exit,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hangs up once the process has exited.
    pub fn exit_fd(&self) -> BorrowedFd<'_> {
        self.exit.as_fd()
    }

    /// Hands the host's end of `kind` to a stream connection. Output
    /// streams count as relays until [`Exec::relay_done`].
    pub fn attach(&self, kind: StreamKind) -> Result<File, Error> {
        let name = stream_name(kind);
        let mut state = self.lock();
        if state.phase != Phase::Created {
            return Err(Error::Started(self.id.clone()));
        }
        let slot = state
            .host
            .get_mut(&kind)
            .ok_or_else(|| Error::NoStream(self.id.clone(), name))?;
        let fd = slot
            .take()
            .ok_or_else(|| Error::Attached(self.id.clone(), name))?;
        if kind != StreamKind::Stdin {
            state.relays += 1;
        }
        Ok(File::from(fd))
    }

    /// Called when an output relay has finished.
    pub fn relay_done(&self) {
        let mut state = self.lock();
        state.relays = state.relays.saturating_sub(1);
        self.changed.notify_all();
    }

    fn start(self: &Arc<Self>) -> Result<i32, Error> {
        let mut state = self.lock();
        if state.phase != Phase::Created {
            return Err(Error::Started(self.id.clone()));
        }
        let mut missing: Vec<StreamKind> = state
            .host
            .iter()
            .filter(|(_, fd)| fd.is_some())
            .map(|(kind, _)| *kind)
            .collect();
        missing.sort_by_key(|kind| *kind as u8);
        if let Some(kind) = missing.first() {
            return Err(Error::NotAttached(self.id.clone(), stream_name(*kind)));
        }
        let Some(child) = state.child.take() else {
            return Err(Error::Started(self.id.clone()));
        };
        let exec = Arc::clone(self);
        match self.spec.spawn(
            child,
            Box::new(move |status| exec.exited(status)),
            proto::agent::is_init_exec_id(&self.id),
        ) {
            Ok(pid) => {
                state.phase = Phase::Running(pid);
                Ok(pid)
            }
            Err(error) => {
                state.phase = Phase::Failed;
                state.exit_signal = None;
                self.changed.notify_all();
                Err(error.into())
            }
        }
    }

    fn exited(&self, status: ExitStatus) {
        let mut state = self.lock();
        state.phase = Phase::Exited(status);
        state.exit_signal = None;
        self.changed.notify_all();
    }

    fn wait(&self) -> Result<ExitStatus, Error> {
        let mut state = self.lock();
        loop {
            match state.phase {
                Phase::Created | Phase::Failed => return Err(Error::NotStarted(self.id.clone())),
                Phase::Exited(status) if state.relays == 0 => return Ok(status),
                Phase::Exited(_) | Phase::Running(_) => {}
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn running_pid(&self) -> Option<i32> {
        match self.lock().phase {
            Phase::Running(pid) => Some(pid),
            _ => None,
        }
    }

    /// Whether the process runs in `container`.
    pub fn runs_in(&self, container: &Arc<Container>) -> bool {
        self.spec.runs_in(container)
    }

    pub fn signal(&self, signal: i32, all: bool) -> Result<(), Error> {
        let state = self.lock();
        let pid = match state.phase {
            Phase::Running(pid) => pid,
            Phase::Created | Phase::Failed => return Err(Error::NotStarted(self.id.clone())),
            Phase::Exited(_) => return Err(Error::Exited(self.id.clone())),
        };
        reaper::signal(pid, all, signal).map_err(|error| match error {
            SignalError::Exited => Error::Exited(self.id.clone()),
            SignalError::Kill(errno) => Error::Signal {
                id: self.id.clone(),
                signal,
                errno,
            },
        })
    }

    pub fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        let state = self.lock();
        let master = state
            .master
            .as_ref()
            .ok_or_else(|| Error::NoTerminal(self.id.clone()))?;
        pty::resize(master.as_fd(), rows, cols).map_err(|errno| Error::Resize {
            id: self.id.clone(),
            errno,
        })
    }
}
