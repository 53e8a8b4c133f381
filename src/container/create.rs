//! Creating a container: the CLI half. It starts the monitor (this binary
//! again, run from a read-only view of it or a sealed in-memory copy; see
//! `monitor::sandbox::sealed_exe`) with the caller's stdio and
//! nothing else open, waits until the monitor reports the container
//! created (or fails), and only then writes the pid file. On failure the
//! monitor is killed and the container's directory removed: nothing is
//! left behind.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

use super::{create_dir, ContainerError};
use crate::container_dir::ContainerDir;
use crate::control::{read_readiness, Readiness};

/// The fd number the monitor finds its ready pipe on.
pub const READY_FD: i32 = 3;

/// What `create` needs beyond the id.
pub struct CreateOptions<'a> {
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// For a pod member: the id of the pod's first container, whose VM it
    /// runs in.
    pub pod: Option<&'a str>,
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
    #[error("protecting the runvm binary the monitor runs from")]
    SealedCopy(#[source] std::io::Error),
    #[error("{0}")]
    Monitor(String),
    #[error("the monitor exited before the container was created")]
    MonitorDied,
    #[error("recording the monitor's pid or pod")]
    Record(#[source] std::io::Error),
    #[error("writing the pid file {}", .0.display())]
    PidFile(PathBuf, #[source] std::io::Error),
}

/// Writes `text` to `path` atomically (a temporary file renamed).
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path))
}

/// Writes `pid` to `path` atomically, as runc does.
pub(crate) fn write_pid_file(path: &Path, pid: u32) -> Result<(), CreateError> {
    write_atomically(path, &pid.to_string()).map_err(|e| CreateError::PidFile(path.into(), e))
}

/// Creates container `id` under `root`; returns the monitor, the
/// container's process on the host.
pub fn create(root: &Path, id: &str, options: &CreateOptions) -> Result<Child, CreateError> {
    let dir = create_dir(root, id)?;
    let recorded = match options.pod {
        Some(first) => write_atomically(&dir.pod_record(), first).map_err(CreateError::Record),
        None => Ok(()),
    };
    match recorded.and_then(|()| spawn_and_wait(root, id, &dir, options)) {
        Ok(child) => Ok(child),
        Err(e) => {
            // The monitor is gone (spawn_and_wait reaped it).
            crate::monitor::sandbox::host_cgroup::HostCgroup::remove_recorded(&dir);
            crate::monitor::sandbox::network::remove_recorded(&dir);
            if let Some(first) = options.pod {
                super::pod::leave(root, first, id);
            }
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn spawn_and_wait(
    root: &Path,
    id: &str,
    dir: &ContainerDir,
    options: &CreateOptions,
) -> Result<Child, CreateError> {
    let (ready_read, ready_write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(CreateError::Pipe)?;
    let running_monitors = super::Container::list(root)
        .into_iter()
        .filter(|c| c.status() != super::Status::Stopped)
        .map(|c| c.state.pid);
    let exe = crate::monitor::sandbox::sealed_exe::sealed_exe(root, running_monitors)
        .map_err(CreateError::SealedCopy)?;
    vmm::timing::mark("binary protection ready");
    let mut command = Command::new(format!("/proc/self/fd/{}", exe.as_raw_fd()));
    // argv[0] names the binary on disk, as a plain exec would.
    if let Ok(path) = std::env::current_exe() {
        command.arg0(path);
    }
    command
        .args(&options.global_args)
        .arg("--root")
        .arg(root)
        .arg("monitor")
        .arg(id);
    if !options.global_args.iter().any(|arg| arg == "--log") {
        // The monitor's stderr is the container's: its log goes here.
        command.arg("--log").arg(dir.monitor_log());
    }
    command.arg("--bundle").arg(options.bundle);
    command.arg("--ready-fd").arg(READY_FD.to_string());
    if let Some(socket) = options.console_socket {
        command.arg("--console-socket").arg(socket);
    }
    if let Some(first) = options.pod {
        command.arg("--pod").arg(first);
    }
    let write_fd = ready_write.as_raw_fd();
    // SAFETY: the closure only makes async-signal-safe system calls (dup2,
    // close_range, fcntl, getrlimit, setrlimit) on fds that stay open
    // until the child has exec'd.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::dup2(write_fd, READY_FD)?;
            close_inherited_fds_on_exec(READY_FD + 1);
            // The monitor holds guest RAM: a crash must not dump it to disk.
            setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(CreateError::Spawn)?;
    drop(exe);
    drop(ready_write);
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    if let Err(e) = super::record_host_process(&dir.monitor_record(), pid) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CreateError::Record(e));
    }

    let result = match read_readiness(std::fs::File::from(ready_read)) {
        Readiness::Ready => match options.pid_file {
            Some(path) => write_pid_file(path, child.id()),
            None => Ok(()),
        },
        Readiness::Failed(message) => Err(CreateError::Monitor(message)),
        Readiness::Gone => Err(CreateError::MonitorDied),
    };
    if let Err(e) = result {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    Ok(child)
}

/// Highest fd the fallback of [`close_inherited_fds_on_exec`] marks.
const FD_SCAN_LIMIT: libc::c_int = 65536;

/// Marks every fd from `first` up close-on-exec, so the monitor inherits
/// only its stdio and ready pipe from whoever called `create` (a shim's
/// sockets, a terminal's fds). Close-on-exec rather than closed: the fds
/// std's spawn and the exec itself still use stay usable until the exec.
/// Async-signal-safe: it runs between fork and exec.
fn close_inherited_fds_on_exec(first: libc::c_int) {
    let first = first.unsigned_abs();
    // SAFETY: close_range only changes fd flags here (CLOSE_RANGE_CLOEXEC).
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if done {
        return;
    }
    // Kernels before 5.11: one fcntl per fd, up to the open-file limit.
    let end = getrlimit(Resource::RLIMIT_NOFILE).map_or(FD_SCAN_LIMIT, |(soft, _)| {
        libc::c_int::try_from(soft).map_or(FD_SCAN_LIMIT, |n| n.min(FD_SCAN_LIMIT))
    });
    for fd in libc::c_int::try_from(first).unwrap_or(end)..end {
        // A closed number fails with EBADF: nothing to mark.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        write_pid_file(&path, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(write_pid_file(Path::new("/nonexistent/dir/pid"), 1).is_err());
    }

    #[test]
    fn inherited_fds_become_close_on_exec() {
        // Without O_CLOEXEC.
        let (read, write) = nix::unistd::pipe().unwrap();
        close_inherited_fds_on_exec(read.as_raw_fd());
        for fd in [&read, &write] {
            let flags = FdFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap());
            assert!(flags.contains(FdFlag::FD_CLOEXEC), "fd {fd:?}");
        }
    }
}
