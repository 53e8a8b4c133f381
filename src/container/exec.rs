//! `exec`: a new process in a created or running container. The calling
//! process becomes its host end (a [`Session`]: stdio relayed, signals
//! forwarded, its status awaited), talking to the guest agent directly
//! through the VM's vsock socket. Detached, a forked child is the host end
//! and lives as long as the process; the pid file names it, and it ends
//! the way the process ended, so a subreaper (containerd's shim, conmon)
//! reaps the right status.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::unistd::ForkResult;
use oci_spec::runtime::Process;
use proto::agent::ExitStatus;

use super::create::write_pid_file;
use super::{record_host_process, Container, ContainerError, Status};
use crate::agent_client::AgentClient;
use crate::container_files::{vsock_socket, EXEC_RECORDS};
use crate::control::READY_LINE;
use crate::exit::mirror_exit;
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
    /// ended; detached, returns `None` once it runs.
    pub fn exec(&self, options: &ExecOptions) -> Result<Option<ExitStatus>, ExecError> {
        match self.status() {
            Status::Running => {}
            // Its PID namespace is the container process's, which `start`
            // starts: before that, an exec'd process would run outside it.
            Status::Created => return Err(ExecError::NotStarted),
            other => return Err(ExecError::Status(other)),
        }
        if !options.detach {
            return self.exec_attached(options, None).map(Some);
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
                    Ok(status) => mirror_exit(status),
                    Err(e) => {
                        let _ = writeln!(report, "error: {}", crate::error_chain::error_chain(&e));
                        std::process::exit(1)
                    }
                }
            }
            ForkResult::Parent { child } => {
                drop(ready_write);
                let mut line = String::new();
                let _ = BufReader::new(File::from(ready_read)).read_line(&mut line);
                if line == READY_LINE {
                    if let Some(path) = options.pid_file {
                        write_pid_file(path, child.as_raw() as u32)?;
                    }
                    return Ok(None);
                }
                let _ = nix::sys::wait::waitpid(child, None);
                match line.trim_end().strip_prefix("error: ") {
                    Some(message) => Err(ExecError::Relay(message.to_string())),
                    None => Err(ExecError::RelayDied),
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
        let agent = AgentClient::connect(&vsock_socket(&self.dir), AGENT_TIMEOUT)
            .map_err(SessionError::from)?;
        let exec_id = new_exec_id();
        let mut session = Session::create(agent, &exec_id, &options.process)?;
        session.start()?;
        // For `ps`: this process stands for the exec'd one on the host.
        let records = self.dir.join(EXEC_RECORDS);
        let record = records.join(&exec_id);
        let recorded = std::fs::create_dir_all(&records)
            .and_then(|()| record_host_process(&record, std::process::id() as i32));
        if let Err(e) = recorded {
            tracing::warn!("recording exec {exec_id} for ps: {e}");
        }
        match ready {
            Some(ready) => {
                // The parent writes the pid file; if it is gone, nobody
                // is left to tell.
                let _ = ready.write_all(READY_LINE.as_bytes());
            }
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

    fn write(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("runvm-process-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn process_files_are_checked() {
        let good = write(
            "good",
            r#"{"args":["ls"],"cwd":"/tmp","user":{"uid":0,"gid":0}}"#,
        );
        assert_eq!(load_process(&good).unwrap().args().clone().unwrap(), ["ls"]);
        let bad = write("bad", "{not json");
        assert!(matches!(
            load_process(&bad),
            Err(ProcessFileError::Parse(..))
        ));
        let empty = write("empty", r#"{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}"#);
        assert!(matches!(
            load_process(&empty),
            Err(ProcessFileError::NoArgs)
        ));
        let relative = write(
            "rel",
            r#"{"args":["ls"],"cwd":"tmp","user":{"uid":0,"gid":0}}"#,
        );
        assert!(matches!(
            load_process(&relative),
            Err(ProcessFileError::RelativeCwd(_))
        ));
        assert!(matches!(
            load_process(Path::new("/nonexistent/process.json")),
            Err(ProcessFileError::Read(..))
        ));
        for path in [good, bad, empty, relative] {
            std::fs::remove_file(path).unwrap();
        }
    }
}
