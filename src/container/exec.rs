//! `exec`: a new process in a created or running container. The calling
//! process becomes its host end (a [`Session`]: stdio relayed, signals
//! forwarded, its status awaited), talking to the guest agent directly
//! through the VM's vsock socket. Detached, a forked child is the host end
//! and lives as long as the process; the pid file names it, and it ends
//! the way the process ended, so a subreaper (containerd's shim, conmon)
//! reaps the right status.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::unistd::ForkResult;
use oci_spec::runtime::Process;
use proto::agent::ExitStatus;

use super::create::write_pid_file;
use super::{record_host_process, Container, ContainerError, Status};
use crate::agent_client::AgentClient;
use crate::control::{read_readiness, report_failure, report_ready, Readiness};
use crate::error_chain::error_chain;
use crate::monitor::session::{attach_console, block_forwarded_signals, Session, SessionError};

/// How long to wait for the agent of a running VM to answer.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `exec` runs and how.
pub struct ExecOptions<'a> {
    pub process: Process,
    /// Return once the process runs; a forked child relays it.
    pub detach: bool,
    /// Where the host pid of the process's host end goes.
    pub pid_file: Option<&'a Path>,
    /// Receives the pty master when the process has a terminal.
    pub console_socket: Option<&'a Path>,
}

/// How an exec ended for this process.
#[derive(Debug)]
pub enum ExecEnd {
    /// The process ran attached to this process (or this is the detached
    /// process's relay) and ended so.
    Exited(ExitStatus),
    /// The process runs, detached: its relay is another process.
    Detached,
    /// This is the detached process's relay, and it failed before the
    /// process ran; it said why on the ready pipe.
    RelayFailed,
}

/// Why an exec failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(
        "cannot exec in a created container: start it first (its PID namespace is its process's)"
    )]
    NotStarted,
    #[error("cannot exec in a {0} container")]
    Status(Status),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("starting the exec relay")]
    Fork(#[source] nix::Error),
    #[error("{0}")]
    Relay(String),
    #[error("the exec relay exited before the process started")]
    RelayDied,
    #[error(transparent)]
    PidFile(#[from] super::create::CreateError),
}

/// An exec id no other process of the container has.
fn new_exec_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("exec-{}-{nanos}", std::process::id())
}

impl Container {
    /// Runs `options.process` in the container. Attached, returns how it
    /// ended; detached, returns once it runs, and the forked relay returns
    /// how it ended.
    pub fn exec(&self, options: &ExecOptions) -> Result<ExecEnd, ExecError> {
        match self.status() {
            Status::Running => {}
            // Its PID namespace is the container process's, which `start`
            // starts: before that, an exec'd process would run outside it.
            Status::Created => return Err(ExecError::NotStarted),
            other => return Err(ExecError::Status(other)),
        }
        if !options.detach {
            return self.exec_attached(options, None).map(ExecEnd::Exited);
        }
        let (ready_read, ready_write): (OwnedFd, OwnedFd) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ExecError::Fork)?;
        // SAFETY: the CLI has not started any thread yet, so the child is
        // a complete copy of a single-threaded process.
        match unsafe { nix::unistd::fork() }.map_err(ExecError::Fork)? {
            ForkResult::Child => {
                drop(ready_read);
                let mut report = File::from(ready_write);
                match self.exec_attached(options, Some(&mut report)) {
                    Ok(status) => Ok(ExecEnd::Exited(status)),
                    Err(e) => {
                        report_failure(report, &error_chain(&e));
                        Ok(ExecEnd::RelayFailed)
                    }
                }
            }
            ForkResult::Parent { child } => {
                drop(ready_write);
                match read_readiness(File::from(ready_read)) {
                    Readiness::Ready => {
                        if let Some(path) = options.pid_file {
                            write_pid_file(path, child.as_raw() as u32)?;
                        }
                        Ok(ExecEnd::Detached)
                    }
                    Readiness::Failed(message) => {
                        let _ = nix::sys::wait::waitpid(child, None);
                        Err(ExecError::Relay(message))
                    }
                    Readiness::Gone => {
                        let _ = nix::sys::wait::waitpid(child, None);
                        Err(ExecError::RelayDied)
                    }
                }
            }
        }
    }

    /// Runs the process with this process as its host end; reports on
    /// `ready` once it runs.
    fn exec_attached(
        &self,
        options: &ExecOptions,
        ready: Option<&mut File>,
    ) -> Result<ExitStatus, ExecError> {
        let signals = block_forwarded_signals()?;
        if let (Some(socket), Some(true)) = (options.console_socket, options.process.terminal()) {
            attach_console(socket)?;
        }
        let agent = self.agent().map_err(SessionError::from)?;
        let exec_id = new_exec_id();
        let mut session = Session::create(agent, &exec_id, &options.process)?;
        session.start()?;
        // For `ps`: this process stands for the exec'd one on the host.
        let records = self.dir.exec_records();
        let record = records.join(&exec_id);
        let recorded = std::fs::create_dir_all(&records)
            .and_then(|()| record_host_process(&record, std::process::id() as i32));
        if let Err(e) = recorded {
            tracing::warn!("recording exec {exec_id} for ps: {e}");
        }
        match ready {
            // The parent writes the pid file.
            Some(ready) => report_ready(ready),
            None => {
                if let Some(path) = options.pid_file {
                    write_pid_file(path, std::process::id())?;
                }
            }
        }
        let status = session.wait(signals, None);
        let _ = std::fs::remove_file(&record);
        Ok(status?)
    }
}

impl Container {
    /// A connection to the agent of the container's VM: its own, or for a
    /// pod member its pod's first container's, creating processes in it.
    fn agent(&self) -> Result<AgentClient, crate::agent_client::AgentError> {
        let Some(first) = self.state.pod.as_deref() else {
            return AgentClient::connect(&self.dir.vsock_socket(), AGENT_TIMEOUT);
        };
        let root = self.dir.parent().unwrap_or(Path::new("/"));
        let socket = crate::container_dir::ContainerDir::new(root, first).vsock_socket();
        let mut agent = AgentClient::connect(&socket, AGENT_TIMEOUT)?;
        agent.in_member(&self.state.id);
        Ok(agent)
    }
}

/// Where `runvm exec --process` reads its process from.
pub fn load_process(path: &Path) -> Result<Process, ProcessFileError> {
    let bytes = std::fs::read(path).map_err(|e| ProcessFileError::Read(path.into(), e))?;
    let process: Process =
        serde_json::from_slice(&bytes).map_err(|e| ProcessFileError::Parse(path.into(), e))?;
    check_process(&process)?;
    Ok(process)
}

/// What is wrong with an exec'd process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessFileError {
    #[error("reading the process file {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("invalid process JSON in {}", .0.display())]
    Parse(PathBuf, #[source] serde_json::Error),
    #[error("process.args must not be empty")]
    NoArgs,
    #[error("process.cwd {0:?} must be an absolute path")]
    RelativeCwd(PathBuf),
}

/// Checks what the agent would refuse later, to fail early and clearly.
pub fn check_process(process: &Process) -> Result<(), ProcessFileError> {
    if process.args().as_ref().is_none_or(|args| args.is_empty()) {
        return Err(ProcessFileError::NoArgs);
    }
    if !process.cwd().is_absolute() {
        return Err(ProcessFileError::RelativeCwd(process.cwd().clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn process_files_are_checked() {
        let good = write(r#"{"args":["ls"],"cwd":"/tmp","user":{"uid":0,"gid":0}}"#);
        assert_eq!(
            load_process(good.path()).unwrap().args().clone().unwrap(),
            ["ls"]
        );
        let bad = write("{not json");
        assert!(matches!(
            load_process(bad.path()),
            Err(ProcessFileError::Parse(..))
        ));
        let empty = write(r#"{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}"#);
        assert!(matches!(
            load_process(empty.path()),
            Err(ProcessFileError::NoArgs)
        ));
        let relative = write(r#"{"args":["ls"],"cwd":"tmp","user":{"uid":0,"gid":0}}"#);
        assert!(matches!(
            load_process(relative.path()),
            Err(ProcessFileError::RelativeCwd(_))
        ));
        assert!(matches!(
            load_process(Path::new("/nonexistent/process.json")),
            Err(ProcessFileError::Read(..))
        ));
    }
}
