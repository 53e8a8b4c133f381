//! `vmctl`: the end-to-end tests' driver for what busybox cannot do.
//!
//! - `vmctl signal SOCKET SIGNUM`: asks a `runvm boot --control SOCKET`
//!   monitor to signal the container process through the guest agent.
//! - `vmctl resize SOCKET ROWS COLS`: sets the container's pty size.
//! - `vmctl status COMMAND [ARG...]`: runs COMMAND with this process's
//!   stdio and prints how it ended, `exit N` or `signal S` — the shell's
//!   `$?` cannot tell death by SIGKILL from `exit 137`.
//! - `vmctl time COMMAND [ARG...]`: runs COMMAND with this process's stdio
//!   and prints its wall time in seconds (busybox's `time` has 10 ms
//!   resolution at best); fails if COMMAND does.
//! - File subcommands for the file system tests, on either side of a
//!   share: see `vmctl/fs.rs`.

mod fs;

use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode};
use std::time::Instant;

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
             vmctl status COMMAND [ARG...] | vmctl time COMMAND [ARG...] | {}",
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
