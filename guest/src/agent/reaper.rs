//! The one place that reaps children.
//!
//! The agent runs as PID 1, so orphans of its processes land here too. A
//! single thread collects every exited child with `waitpid(-1)`, hands the
//! status of the ones [`spawn`] registered to their callbacks and discards
//! the rest (`__WALL`: clone children too). Spawning holds the same lock
//! as reaping, so a child is registered before it can be reaped, and std's
//! own wait on a child whose exec failed cannot race the reaper.

use std::collections::BTreeMap;
use std::io;
use std::process::Command;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

use nix::errno::Errno;
use proto::agent::ExitStatus;

/// Called with the exit status of a registered child, on the reaper thread.
pub type OnExit = Box<dyn FnOnce(ExitStatus) + Send>;

struct Children {
    /// Registered children that have not been reaped yet.
    by_pid: BTreeMap<i32, OnExit>,
    /// Counts spawns, so that a reaper without children knows when to look
    /// again.
    spawns: u64,
    reaper_running: bool,
}

static CHILDREN: Mutex<Children> = Mutex::new(Children {
    by_pid: BTreeMap::new(),
    spawns: 0,
    reaper_running: false,
});
static SPAWNED: Condvar = Condvar::new();

fn children() -> MutexGuard<'static, Children> {
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the reaper thread if it is not running yet. A thread that has
/// entered another PID namespace for its children cannot start threads
/// (EINVAL), so a spawn into one calls this first.
pub fn start() -> io::Result<()> {
    start_with(&mut children())
}

fn start_with(children: &mut Children) -> io::Result<()> {
    if !children.reaper_running {
        thread::Builder::new()
            .name("reaper".into())
            .spawn(reap_forever)?;
        children.reaper_running = true;
    }
    Ok(())
}

/// Spawns `command` and calls `on_exit` with its status once it has been
/// reaped. Returns the child's pid.
pub fn spawn(command: &mut Command, on_exit: OnExit) -> io::Result<i32> {
    let mut children = children();
    start_with(&mut children)?;
    let child = command.spawn()?;
    // Pids are positive i32 values on Linux.
    let pid = i32::try_from(child.id()).map_err(|_| io::Error::from(Errno::EOVERFLOW))?;
    // Dropping `child` neither waits nor kills: the reaper owns the pid now.
    children.by_pid.insert(pid, on_exit);
    children.spawns += 1;
    SPAWNED.notify_all();
    Ok(pid)
}

/// Why a signal was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("it has exited")]
    Exited,
    #[error("{}", super::describe(*.0))]
    Kill(Errno),
}

/// Sends `signal` to the registered child `pid`, or with `group` to its
/// process group, unless it has already been reaped (its pid may then
/// belong to another process).
pub fn signal(pid: i32, group: bool, signal: i32) -> Result<(), SignalError> {
    let children = children();
    if !children.by_pid.contains_key(&pid) {
        return Err(SignalError::Exited);
    }
    let target = if group { -pid } else { pid };
    // SAFETY: kill takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(target, signal) };
    drop(children);
    Errno::result(rc).map(drop).map_err(SignalError::Kill)
}

fn reap_forever() {
    loop {
        let spawns = children().spawns;
        match wait_for_zombie() {
            Ok(()) => reap_all(),
            Err(Errno::EINTR) => {}
            // No children (ECHILD), or nothing sensible to do but wait for
            // the next spawn before trying again.
            Err(_) => {
                let mut children = children();
                while children.spawns == spawns {
                    children = SPAWNED
                        .wait(children)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    }
}

/// Blocks until some child has exited, without reaping it.
fn wait_for_zombie() -> Result<(), Errno> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes only into `info`, which outlives the call.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOWAIT | libc::__WALL,
        )
    };
    Errno::result(rc).map(drop)
}

/// Reaps every exited child and reports the registered ones.
fn reap_all() {
    let mut exited = Vec::new();
    {
        let mut children = children();
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes only into `status`, which outlives the call.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::__WALL) };
            if pid <= 0 {
                break;
            }
            if let Some(on_exit) = children.by_pid.remove(&pid) {
                exited.push((on_exit, decode(status)));
            }
        }
    }
    for (on_exit, status) in exited {
        on_exit(status);
    }
}

fn decode(status: i32) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status))
    } else {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    }
}
