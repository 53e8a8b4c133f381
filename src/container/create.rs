//! Creating a container: the CLI half. It starts the monitor (a re-exec of
//! this binary) with the caller's stdio, waits until the monitor reports
//! the container created (or fails), and only then writes the pid file.
//! On failure the monitor is killed and the container's directory removed:
//! nothing is left behind.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use super::{create_dir, ContainerError};
use crate::monitor::READY_LINE;

/// The monitor's log in the container's directory, unless `--log` names one.
pub const MONITOR_LOG: &str = "monitor.log";
/// The fd number the monitor finds its ready pipe on.
pub const READY_FD: i32 = 3;

/// What `create` needs beyond the id.
pub struct CreateOptions<'a> {
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// Global flags to hand on to the monitor (`--log`, `--debug`, ...).
    pub global_args: Vec<String>,
}

/// Why creation failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("making the monitor's ready pipe")]
    Pipe(#[source] nix::Error),
    #[error("starting the monitor")]
    Spawn(#[source] std::io::Error),
    #[error("{0}")]
    Monitor(String),
    #[error("the monitor exited before the container was created")]
    MonitorDied,
    #[error("writing the pid file {}", .0.display())]
    PidFile(PathBuf, #[source] std::io::Error),
}

/// Writes `pid` to `path` atomically, as runc does.
pub(crate) fn write_pid_file(path: &Path, pid: u32) -> Result<(), CreateError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CreateError::PidFile(path.into(), e))
}

/// Creates container `id` under `root`; returns the monitor, the
/// container's process on the host.
pub fn create(root: &Path, id: &str, options: &CreateOptions) -> Result<Child, CreateError> {
    let dir = create_dir(root, id)?;
    match spawn_and_wait(root, id, options) {
        Ok(child) => Ok(child),
        Err(e) => {
            // The monitor is gone (spawn_and_wait reaped it).
            crate::host_cgroup::HostCgroup::remove_recorded(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn spawn_and_wait(root: &Path, id: &str, options: &CreateOptions) -> Result<Child, CreateError> {
    let (ready_read, ready_write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(CreateError::Pipe)?;
    let mut command = Command::new("/proc/self/exe");
    command
        .args(&options.global_args)
        .arg("--root")
        .arg(root)
        .arg("monitor")
        .arg(id);
    if !options.global_args.iter().any(|arg| arg == "--log") {
        // The monitor's stderr is the container's: its log goes here.
        command.arg("--log").arg(root.join(id).join(MONITOR_LOG));
    }
    command.arg("--bundle").arg(options.bundle);
    command.arg("--ready-fd").arg(READY_FD.to_string());
    if let Some(socket) = options.console_socket {
        command.arg("--console-socket").arg(socket);
    }
    let write_fd = ready_write.as_raw_fd();
    // SAFETY: the closure only calls dup2, which is async-signal-safe, on
    // fds that stay open until the child has exec'd.
    unsafe {
        command.pre_exec(move || {
            if libc::dup2(write_fd, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(CreateError::Spawn)?;
    drop(ready_write);

    // One line: the monitor keeps the pipe open after it (to report later
    // failures nowhere), so EOF is not the end of the report.
    let mut report = String::new();
    let _ = BufReader::new(std::fs::File::from(ready_read)).read_line(&mut report);
    if report == READY_LINE {
        if let Some(path) = options.pid_file {
            if let Err(e) = write_pid_file(path, child.id()) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
        return Ok(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    match report.trim_end().strip_prefix("error: ") {
        Some(message) => Err(CreateError::Monitor(message.to_string())),
        None => Err(CreateError::MonitorDied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_is_written_whole() {
        let dir = std::env::temp_dir().join(format!("runvm-pid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pid");
        write_pid_file(&path, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(write_pid_file(Path::new("/nonexistent/dir/pid"), 1).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
