//! `vmctl`: the end-to-end tests' driver for what busybox cannot do.
//!
//! - `vmctl signal SOCKET SIGNUM`: asks a `runvm boot --control SOCKET`
//!   monitor to signal the container process through the guest agent.
//! - `vmctl resize SOCKET ROWS COLS`: sets the container's pty size.
//! - `vmctl status COMMAND [ARG...]`: runs COMMAND with this process's
//!   stdio and prints how it ended, `exit N` or `signal S` — the shell's
//!   `$?` cannot tell death by SIGKILL from `exit 137`.
//! - `vmctl console SOCKET ROWSxCOLS PROMPT INPUT`: a `--console-socket`
//!   receiver. Listens on SOCKET, takes the pty master runvm sends, sets
//!   its window size, waits for PROMPT in the output, types INPUT (`\n`
//!   for newlines) and prints all the pty's output until the other end
//!   closes (60 s at most).
//! - `vmctl time COMMAND [ARG...]`: runs COMMAND with this process's stdio
//!   and prints its wall time in seconds (busybox's `time` has 10 ms
//!   resolution at best); fails if COMMAND does.
//! - `vmctl shm-write KEY TEXT`: makes a System V shared memory segment
//!   with KEY (decimal), writes TEXT into it and leaves it for others.
//! - `vmctl shm-read KEY`: prints the text in the segment with KEY; fails
//!   if this IPC namespace has none.
//! - File subcommands for the file system tests, on either side of a
//!   share: see `vmctl/fs.rs`.

mod fs;

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use anyhow::{bail, Context, Result};
use proto::agent::{Request, Response};
use proto::frame::{read_message, write_message};

fn control(socket: &str, request: &Request) -> Result<()> {
    let mut stream =
        UnixStream::connect(socket).with_context(|| format!("connecting to {socket}"))?;
    write_message(&mut stream, request).context("sending the request")?;
    match read_message(&mut stream).context("reading the answer")? {
        Response::Ok => Ok(()),
        Response::Error { message } => bail!("the agent refused: {message}"),
        other => bail!("unexpected answer: {other:?}"),
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .ok()
        .with_context(|| format!("{s:?} is not a number in range"))
}

/// Receives one fd sent with SCM_RIGHTS on `conn`.
fn receive_fd(conn: &UnixStream) -> Result<OwnedFd> {
    let mut name = [0u8; 256];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [IoSliceMut::new(&mut name)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .context("receiving the pty master")?;
    for cmsg in msg.cmsgs().context("reading the control message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the fd just arrived with SCM_RIGHTS; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    bail!("no fd came with the message")
}

fn console(socket: &str, size: &str, prompt: &str, input: &str) -> Result<()> {
    let (rows, cols) = size.split_once('x').context("size must be ROWSxCOLS")?;
    let listener = UnixListener::bind(socket).with_context(|| format!("binding {socket}"))?;
    let (conn, _) = listener.accept().context("accepting runvm's connection")?;
    let master = File::from(receive_fd(&conn)?);
    let winsize = libc::winsize {
        ws_row: number(rows)?,
        ws_col: number(cols)?,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `winsize` from the valid pointer given.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } < 0 {
        bail!(
            "setting the window size: {}",
            std::io::Error::last_os_error()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = std::io::stdout();
    let mut seen = Vec::new();
    let mut typed = false;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if !typed && seen.windows(prompt.len()).any(|w| w == prompt.as_bytes()) {
            (&master)
                .write_all(input.replace("\\n", "\n").as_bytes())
                .context("typing the input")?;
            typed = true;
        }
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(500u16)).context("polling the pty")? == 0 {
            continue;
        }
        match (&master).read(&mut buf) {
            // EIO: every slave fd is closed, the session is over.
            Ok(0) | Err(_) if typed => return Ok(()),
            Ok(0) | Err(_) => bail!("the pty closed before {prompt:?} appeared"),
            Ok(n) => {
                out.write_all(&buf[..n]).context("writing the output")?;
                seen.extend_from_slice(&buf[..n]);
            }
        }
    }
    bail!("the pty stayed open for 60 s")
}

/// Size of the segments `shm-write` makes.
const SHM_SIZE: usize = 4096;

/// The System V shared memory segment with `key`, attached; created if
/// `create`.
fn shm_attach(key: &str, create: bool) -> Result<*mut libc::c_void> {
    let key: libc::key_t = key.parse().context("the key must be a decimal number")?;
    let flags = if create { libc::IPC_CREAT | 0o600 } else { 0 };
    // SAFETY: shmget takes plain values and touches no memory of ours.
    let id = unsafe { libc::shmget(key, SHM_SIZE, flags) };
    if id < 0 {
        return Err(std::io::Error::last_os_error()).context(format!("shmget of key {key}"));
    }
    // SAFETY: a null address lets the kernel choose where to map it.
    let address = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if address as isize == -1 {
        return Err(std::io::Error::last_os_error()).context("shmat");
    }
    Ok(address)
}

fn shm_write(key: &str, text: &str) -> Result<()> {
    let bytes = text.as_bytes();
    if bytes.len() >= SHM_SIZE {
        bail!("the text must be shorter than {SHM_SIZE} bytes");
    }
    let address = shm_attach(key, true)?;
    // SAFETY: the segment is SHM_SIZE bytes, mapped at `address`; the text
    // and its NUL fit.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), address.cast::<u8>(), bytes.len());
        *address.cast::<u8>().add(bytes.len()) = 0;
        libc::shmdt(address);
    }
    Ok(())
}

fn shm_read(key: &str) -> Result<()> {
    let address = shm_attach(key, false)?;
    // SAFETY: the segment is at least as long as the NUL-terminated text
    // `shm-write` put there; `from_ptr` reads up to the NUL.
    let text = unsafe { std::ffi::CStr::from_ptr(address.cast()) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: `address` is the segment attached above.
    unsafe { libc::shmdt(address) };
    println!("{text}");
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    if let Some(result) = fs::run(args) {
        return result;
    }
    match args {
        [verb, socket, signal] if verb == "signal" => control(
            socket,
            &Request::Signal {
                exec_id: "init".into(),
                signal: number(signal)?,
                all: false,
            },
        ),
        [verb, socket, rows, cols] if verb == "resize" => control(
            socket,
            &Request::ResizeTty {
                exec_id: "init".into(),
                rows: number(rows)?,
                cols: number(cols)?,
            },
        ),
        [verb, socket, size, prompt, input] if verb == "console" => {
            console(socket, size, prompt, input)
        }
        [verb, key, text] if verb == "shm-write" => shm_write(key, text),
        [verb, key] if verb == "shm-read" => shm_read(key),
        [verb, command, rest @ ..] if verb == "status" => {
            let status = Command::new(command)
                .args(rest)
                .status()
                .with_context(|| format!("running {command}"))?;
            match (status.code(), status.signal()) {
                (Some(code), _) => println!("exit {code}"),
                (None, Some(signal)) => println!("signal {signal}"),
                (None, None) => bail!("{command} ended neither by exit nor by signal"),
            }
            Ok(())
        }
        [verb, command, rest @ ..] if verb == "time" => {
            let start = Instant::now();
            let status = Command::new(command)
                .args(rest)
                .status()
                .with_context(|| format!("running {command}"))?;
            let elapsed = start.elapsed();
            if !status.success() {
                bail!("{command} failed: {status}");
            }
            println!("{:.6}", elapsed.as_secs_f64());
            Ok(())
        }
        _ => bail!(
            "usage: vmctl signal SOCKET SIGNUM | vmctl resize SOCKET ROWS COLS | \
             vmctl status COMMAND [ARG...] | vmctl time COMMAND [ARG...] | \
             vmctl console SOCKET ROWSxCOLS PROMPT INPUT | vmctl shm-write KEY TEXT | \
             vmctl shm-read KEY | {}",
            fs::USAGE
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vmctl: {error:#}");
            ExitCode::FAILURE
        }
    }
}
