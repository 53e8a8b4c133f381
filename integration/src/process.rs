//! Running a command with a deadline, without leaking what it started.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How a command ran.
#[derive(Debug)]
pub struct Finished {
    /// `None` when it was killed at the deadline.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From spawn to exit (or to the kill).
    pub elapsed: Duration,
}

/// Runs `command` with stdin from /dev/null and stdout/stderr captured. At
/// `timeout` its whole process group is killed.
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> io::Result<Finished> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so that the kill reaches whatever it spawned.
        .process_group(0);
    let start = Instant::now();
    let mut child = command.spawn()?;
    let stdout = read_to_end_in_background(child.stdout.take());
    let stderr = read_to_end_in_background(child.stderr.take());
    let status = wait_until(&mut child, start + timeout)?;
    let elapsed = start.elapsed();
    // Background leftovers would keep the pipes, and the readers, open.
    kill_process_group(&child);
    Ok(Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed,
    })
}

/// Waits for `child` to exit; kills its process group at `deadline` and
/// returns `None` then.
fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill_process_group(child);
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILLs the process group that `leader` (spawned with
/// `process_group(0)`) leads.
fn kill_process_group(leader: &Child) {
    let Ok(pgid) = libc::pid_t::try_from(leader.id()) else {
        return;
    };
    // SAFETY: kill(2) only sends a signal and touches no memory of ours; a
    // group that is already gone just yields ESRCH.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Reads all of `pipe` on a thread of its own.
pub fn read_to_end_in_background(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error just ends the capture; what came before is kept.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Sends each line of `pipe` (newline stripped, lossily decoded) with the
/// moment it arrived, from a thread of its own: the receiver can wait with
/// a deadline, and the channel closes at end of file.
pub fn lines_in_background(pipe: impl Read + Send + 'static) -> Receiver<(String, Instant)> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\n')
                .to_owned();
            if sender.send((text, Instant::now())).is_err() {
                break;
            }
            line.clear();
        }
    });
    receiver
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_output_and_status() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let finished = run_with_timeout(command, Duration::from_secs(10)).unwrap();
        assert_eq!(finished.status.and_then(|s| s.code()), Some(3));
        assert_eq!(finished.stdout, b"out\n");
        assert_eq!(finished.stderr, b"err\n");
    }

    #[test]
    fn lines_arrive_one_by_one_and_the_channel_closes_at_the_end() {
        let lines = lines_in_background(&b"one\ntwo\r\nlast"[..]);
        let texts: Vec<String> = lines.iter().map(|(text, _)| text).collect();
        assert_eq!(texts, ["one", "two\r", "last"]);
    }

    #[test]
    fn kills_at_the_deadline_with_its_children() {
        let mut command = Command::new("/bin/sh");
        // The background sleep holds stdout open: only a group kill ends it.
        command.args(["-c", "sleep 30 & sleep 30"]);
        let finished = run_with_timeout(command, Duration::from_millis(200)).unwrap();
        assert!(finished.status.is_none());
        assert!(finished.elapsed < Duration::from_secs(5));
    }
}
