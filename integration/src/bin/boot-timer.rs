//! `boot-timer PATTERN COMMAND [ARG...]`: starts COMMAND, reads its stdout
//! until a line contains PATTERN, prints the milliseconds from the start to
//! that line, and kills COMMAND. The benchmark's stopwatch: busybox has no
//! sub-second `time`.

use std::collections::VecDeque;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use integration::process::lines_in_background;

/// A boot that has not reached the pattern by then counts as failed.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Lines of COMMAND's stdout shown when the pattern never came.
const TAIL_LINES: usize = 20;

fn main() -> ExitCode {
    match run() {
        Ok(elapsed) => {
            println!("{:.1}", elapsed.as_secs_f64() * 1000.0);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("boot-timer: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Duration> {
    let mut args = std::env::args().skip(1);
    let (Some(pattern), Some(program)) = (args.next(), args.next()) else {
        bail!("usage: boot-timer PATTERN COMMAND [ARG...]");
    };
    let started = Instant::now();
    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let lines = lines_in_background(child.stdout.take().context("stdout is piped")?);

    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let outcome = loop {
        match lines.recv_timeout(TIMEOUT.saturating_sub(started.elapsed())) {
            Ok((line, at)) if line.contains(&pattern) => break Ok(at - started),
            Ok((line, _)) => {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line + "\n");
            }
            Err(RecvTimeoutError::Timeout) => {
                break Err(format!("no {pattern:?} within {} s", TIMEOUT.as_secs()))
            }
            Err(RecvTimeoutError::Disconnected) => {
                break Err(format!("{program} closed its stdout without {pattern:?}"))
            }
        }
    };
    // It may have exited already; the kill error then is of no interest.
    let _ = child.kill();
    let status = child.wait().context("waiting for the command")?;
    outcome.or_else(|problem| {
        let tail: String = tail.into_iter().collect();
        bail!("{problem} ({status}); its last lines:\n{tail}")
    })
}
