//! One container process seen from the host: its stdio relayed from and
//! to this process's own fds (or a pty sent to a console socket), the
//! signals this process receives forwarded to it, and its end awaited.
//! The monitor runs the container's main process as a session; `runvm
//! exec` runs each exec'd process as one.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::seccomp as filters;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use nix::sys::termios::{self, SetArg, Termios};
use oci_spec::runtime::Process;
use proto::agent::{ExitStatus, StreamKind};
use virtio::vsock::SocketPath;
use vmm::seccomp::{self, BpfProgram, SeccompError, ThreadCaps};

use crate::agent_client::{AgentClient, AgentError};

/// Signals forwarded to the process, as `runc run` and `runc exec` do;
/// SIGWINCH instead resizes its pty.
pub const FORWARDED_SIGNALS: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the guest agent")]
    Agent(#[from] AgentError),
    #[error("relaying stdio")]
    Stdio(#[source] io::Error),
    #[error("blocking the forwarded signals")]
    Signals(#[source] nix::Error),
    #[error("sending the pty master to {}", .0.display())]
    ConsoleSocket(PathBuf, #[source] nix::Error),
    #[error("opening the directory of the console socket {}", .0.display())]
    ConsoleSocketDir(PathBuf, #[source] io::Error),
    #[error("making the pty")]
    Pty(#[source] nix::Error),
    #[error("confining a session thread")]
    Seccomp(#[source] SeccompError),
}

/// Blocks [`FORWARDED_SIGNALS`] in the calling thread. Call it before
/// starting any thread: they inherit the mask, so only the forwarder
/// (which takes them with sigwait) receives them.
pub fn block_forwarded_signals() -> Result<SigSet, SessionError> {
    let mut signals = SigSet::empty();
    for signal in FORWARDED_SIGNALS {
        signals.add(signal);
    }
    signals.thread_block().map_err(SessionError::Signals)?;
    Ok(signals)
}

/// A created process with its stdio attached.
pub struct Session {
    agent: AgentClient,
    exec_id: String,
    terminal: bool,
    relays: Relays,
}

impl Session {
    /// Creates `process` in the agent under `exec_id` and attaches its
    /// stdio to this process's stdin, stdout and stderr.
    pub fn create(
        mut agent: AgentClient,
        exec_id: &str,
        process: &Process,
    ) -> Result<Self, SessionError> {
        agent.create_process(exec_id, process)?;
        let terminal = process.terminal().unwrap_or(false);
        let relays = if terminal {
            relay_pty(&agent, exec_id)?
        } else {
            relay_pipes(&agent, exec_id)?
        };
        Ok(Self {
            agent,
            exec_id: exec_id.to_string(),
            terminal,
            relays,
        })
    }

    /// The control connection the session was created on.
    pub fn agent(&self) -> &AgentClient {
        &self.agent
    }

    /// Spawns the process; returns its guest pid.
    pub fn start(&mut self) -> Result<i32, SessionError> {
        Ok(self.agent.start(&self.exec_id)?)
    }

    /// Forwards `signals` (see [`block_forwarded_signals`]) to the process
    /// until it ends, then returns how it ended once its output is out.
    /// With `waiter`, the calling thread installs that filter once the
    /// forwarder runs, before it waits.
    pub fn wait(
        mut self,
        signals: SigSet,
        waiter: Option<&BpfProgram>,
    ) -> Result<ExitStatus, SessionError> {
        let forwarder = self.agent.try_clone()?;
        let (exec_id, terminal) = (self.exec_id.clone(), self.terminal);
        let filter = filters::signal_forwarder_filter().map_err(SessionError::Seccomp)?;
        spawn_confined("signals", Arc::new(filter), move || {
            forward_signals(forwarder, &exec_id, signals, terminal);
        })?;
        if let Some(waiter) = waiter {
            seccomp::confine(waiter, ThreadCaps::None).map_err(SessionError::Seccomp)?;
        }
        let status = self.agent.wait(&self.exec_id)?;
        for relay in self.relays.outputs {
            // A relay thread only fails by panicking, which already reported.
            let _ = relay.join();
        }
        drop(self.relays.terminal);
        Ok(status)
    }
}

/// Stdio relays that must finish before the session ends.
struct Relays {
    outputs: Vec<JoinHandle<()>>,
    /// The host terminal's settings, restored when dropped.
    terminal: Option<RawTerminal>,
}

/// Copies `from` to `to` until EOF or an error. Either may be a
/// non-blocking fd (the caller's pipe, shared with a process that set
/// O_NONBLOCK): EAGAIN waits for it to be ready instead of ending the copy
/// with the rest of the stream lost.
fn copy_until_eof(mut from: impl Read + AsFd, mut to: impl Write + AsFd) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match wait_ready(from.as_fd(), PollFlags::POLLIN) {
                    Ok(()) => continue,
                    Err(_) => return,
                }
            }
            Err(_) => return,
        };
        if std::mem::take(&mut first) {
            vmm::timing::mark("first stream byte relayed");
        }
        if write_all(&mut to, &buf[..n]).is_err() {
            return;
        }
    }
}

/// `Write::write_all`, waiting out EAGAIN on a non-blocking fd.
fn write_all(to: &mut (impl Write + AsFd), mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match to.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_ready(to.as_fd(), PollFlags::POLLOUT)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` (or hung up, or in error: the
/// next read or write says which).
fn wait_ready(fd: BorrowedFd<'_>, events: PollFlags) -> io::Result<()> {
    let mut fds = [PollFd::new(fd, events)];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

fn dup_stdio(fd: BorrowedFd<'_>) -> Result<std::fs::File, SessionError> {
    fd.try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(SessionError::Stdio)
}

/// Starts thread `name`, which installs `filter` on itself before it runs
/// `body`; returns once the filter is in place.
pub(crate) fn spawn_confined(
    name: &str,
    filter: Arc<BpfProgram>,
    body: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, SessionError> {
    let (installed_tx, installed) = channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let result = seccomp::confine(&filter, ThreadCaps::None);
            drop(filter);
            let confined = result.is_ok();
            let _ = installed_tx.send(result);
            if confined {
                body();
            }
        })
        .map_err(SessionError::Stdio)?;
    installed
        .recv()
        .unwrap_or_else(|_| Err(SeccompError::Died(name.into())))
        .map_err(SessionError::Seccomp)?;
    Ok(thread)
}

fn spawn_copy(
    name: &str,
    filter: &Arc<BpfProgram>,
    from: impl Read + AsFd + Send + 'static,
    to: impl Write + AsFd + Send + 'static,
) -> Result<JoinHandle<()>, SessionError> {
    spawn_confined(name, filter.clone(), move || copy_until_eof(from, to))
}

fn relay_filter() -> Result<Arc<BpfProgram>, SessionError> {
    filters::relay_filter()
        .map(Arc::new)
        .map_err(SessionError::Seccomp)
}

fn relay_pipes(agent: &AgentClient, exec_id: &str) -> Result<Relays, SessionError> {
    let stdin = agent.attach_stream(exec_id, StreamKind::Stdin)?;
    let stdout = agent.attach_stream(exec_id, StreamKind::Stdout)?;
    let stderr = agent.attach_stream(exec_id, StreamKind::Stderr)?;
    let our_stdin = dup_stdio(io::stdin().as_fd())?;
    let filter = relay_filter()?;
    // stdin is not waited for: the process may end before its input does.
    spawn_copy("stdin", &filter, our_stdin, CloseOnDrop(stdin))?;
    let outputs = vec![
        spawn_copy("stdout", &filter, stdout, dup_stdio(io::stdout().as_fd())?)?,
        spawn_copy("stderr", &filter, stderr, dup_stdio(io::stderr().as_fd())?)?,
    ];
    Ok(Relays {
        outputs,
        terminal: None,
    })
}

fn relay_pty(agent: &AgentClient, exec_id: &str) -> Result<Relays, SessionError> {
    let pty = agent.attach_stream(exec_id, StreamKind::Pty)?;
    let stdin = io::stdin();
    let terminal = RawTerminal::enter(stdin.as_fd());
    let our_stdin = dup_stdio(stdin.as_fd())?;
    let to_pty = pty.try_clone().map_err(SessionError::Stdio)?;
    let filter = relay_filter()?;
    spawn_copy("pty-in", &filter, our_stdin, to_pty)?;
    let outputs = vec![spawn_copy(
        "pty-out",
        &filter,
        pty,
        dup_stdio(io::stdout().as_fd())?,
    )?];
    Ok(Relays { outputs, terminal })
}

/// Shuts the stream down when the copy ends, so the agent sees EOF on the
/// process's stdin even though other clones of the socket live on.
struct CloseOnDrop(UnixStream);

impl Write for CloseOnDrop {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl AsFd for CloseOnDrop {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// The host terminal in raw mode while a container process owns it.
struct RawTerminal {
    fd: OwnedFd,
    saved: Termios,
}

impl RawTerminal {
    /// Puts `fd` in raw mode if it is a terminal.
    fn enter(fd: BorrowedFd<'_>) -> Option<Self> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(Self {
            fd: fd.try_clone_to_owned().ok()?,
            saved,
        })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// The window size of this process's own terminal, if stdin is one.
fn host_window_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the valid pointer given.
    let rc = unsafe { libc::ioctl(io::stdin().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

fn forward_signals(mut agent: AgentClient, exec_id: &str, signals: SigSet, terminal: bool) {
    if terminal {
        if let Some((rows, cols)) = host_window_size() {
            let _ = agent.resize_tty(exec_id, rows, cols);
        }
    }
    while let Ok(signal) = signals.wait() {
        let result = match signal {
            Signal::SIGWINCH if terminal => match host_window_size() {
                Some((rows, cols)) => agent.resize_tty(exec_id, rows, cols),
                None => Ok(()),
            },
            Signal::SIGWINCH => Ok(()),
            other => agent.signal(exec_id, other as i32, false),
        };
        if result.is_err() {
            // The agent is gone: the VM ended, and the session with it.
            return;
        }
    }
}

/// Sends `master` over the Unix socket at `path`, as runc does for
/// `--console-socket`.
fn send_pty_master(path: &Path, master: &OwnedFd, name: &str) -> Result<(), SessionError> {
    let err = |e| SessionError::ConsoleSocket(path.into(), e);
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Stream,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err)?;
    // The caller's path may be longer than a socket address holds.
    let short =
        SocketPath::new(path).map_err(|e| SessionError::ConsoleSocketDir(path.into(), e))?;
    let addr = UnixAddr::new(short.address()).map_err(err)?;
    nix::sys::socket::connect(socket.as_raw_fd(), &addr).map_err(err)?;
    let fds = [master.as_raw_fd()];
    let iov = [io::IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(err)?;
    Ok(())
}

/// Makes a host pty, sends its master to `socket`, and makes the slave
/// this process's stdio and, where this process can start a session, its
/// controlling terminal, so the session relays it to the guest's pty and
/// sees its window-size changes (SIGWINCH).
pub fn attach_console(socket: &Path) -> Result<(), SessionError> {
    let pty = nix::pty::openpty(None, None).map_err(SessionError::Pty)?;
    let name = nix::unistd::ttyname(pty.slave.as_fd()).map_err(SessionError::Pty)?;
    send_pty_master(socket, &pty.master, &name.to_string_lossy())?;
    // A process group leader (a foreground `runvm exec` run by a shell)
    // cannot start a session: it relays without window-size changes.
    if nix::unistd::setsid().is_ok() {
        // SAFETY: TIOCSCTTY on a valid terminal fd with argument 0.
        if unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
            return Err(SessionError::Pty(nix::Error::last()));
        }
    }
    for fd in 0..3 {
        nix::unistd::dup2(pty.slave.as_raw_fd(), fd).map_err(SessionError::Pty)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::fs::File;

    /// A pipe whose end `nonblocking_end` (0: read, 1: write) is O_NONBLOCK.
    fn pipe_with_nonblocking_end(nonblocking_end: usize) -> (File, File) {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let fd = [read.as_raw_fd(), write.as_raw_fd()][nonblocking_end];
        fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
        (File::from(read), File::from(write))
    }

    #[test]
    fn copy_waits_out_non_blocking_fds_to_the_end() {
        let sent: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        // The input comes in bursts on a non-blocking fd (EAGAIN between
        // them), and the output's reader starts late and reads slowly (a
        // full non-blocking pipe: EAGAIN).
        let (input, mut feed) = pipe_with_nonblocking_end(0);
        let (mut drain, output) = pipe_with_nonblocking_end(1);
        let to_feed = sent.clone();
        let feeder = std::thread::spawn(move || {
            for chunk in to_feed.chunks(100_000) {
                feed.write_all(chunk).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let reader = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                match drain.read(&mut buf).unwrap() {
                    0 => return received,
                    n => received.extend_from_slice(&buf[..n]),
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        });
        copy_until_eof(input, output);
        feeder.join().unwrap();
        let received = reader.join().unwrap();
        assert_eq!(received.len(), sent.len());
        assert!(received == sent, "the bytes differ");
    }

    #[test]
    fn console_socket_receives_a_pty_master() {
        let top = tempfile::tempdir().unwrap();
        // Longer than a socket address holds.
        let dir = top.path().join("c".repeat(200));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("console.sock");
        let listener = SocketPath::new(&path).unwrap().bind().unwrap();
        let pty = nix::pty::openpty(None, None).unwrap();
        send_pty_master(&path, &pty.master, "/dev/pts/x").unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let received_bytes = msg.bytes;
        let fds: Vec<_> = msg
            .cmsgs()
            .unwrap()
            .filter_map(|c| match c {
                nix::sys::socket::ControlMessageOwned::ScmRights(fds) => Some(fds),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(fds.len(), 1);
        assert_eq!(&buf[..received_bytes], b"/dev/pts/x");
        // SAFETY: the fd just arrived over SCM_RIGHTS and nothing else owns it.
        let received = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
        assert!(nix::unistd::isatty(received.as_raw_fd()).unwrap());
        let err = send_pty_master(&dir.join("nobody"), &pty.master, "x").unwrap_err();
        assert!(err.to_string().contains("nobody"));
    }
}
