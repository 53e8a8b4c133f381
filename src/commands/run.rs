//! `runvm run`: create and start a container, then wait for it and exit
//! with its status (128+N if a signal N killed it), as `runc run` does.
//! Signals runvm receives meanwhile go to the container.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use clap::Args;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use super::create::Create;
use super::{CommandError, GlobalFlags};
use crate::container::Container;

/// Create and run a container.
#[derive(Args, Debug)]
pub struct Run {
    /// The container id.
    pub id: String,
    /// Path to the bundle (the directory holding config.json).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the container's host pid (the monitor's) here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (for terminal: true).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the container has started.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Accepted for runc compatibility: the guest has its own root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: the guest has its own keyrings.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Extra fds to pass to the container (not supported).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

/// Signals `run` passes on to the container while it waits.
const FORWARDED: [Signal; 6] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

impl Run {
    /// Runs the container; returns the exit code for runvm.
    pub fn run(&self, root: &std::path::Path, flags: &GlobalFlags) -> Result<i32, CommandError> {
        let mut signals = SigSet::empty();
        if !self.detach {
            FORWARDED.iter().for_each(|s| signals.add(*s));
            // Blocked before the monitor starts: it inherits the mask and
            // takes the same signals with sigwait.
            let _ = signals.thread_block();
        }
        let create = Create {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        };
        let mut monitor = create.run(root, flags)?;
        let container = Container::load(root, &self.id)?;
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            let _ = monitor.wait();
            return Err(e.into());
        }
        if self.detach {
            return Ok(0);
        }
        let pid = Pid::from_raw(monitor.id() as i32);
        std::thread::spawn(move || {
            while let Ok(signal) = signals.wait() {
                let _ = kill(pid, signal);
            }
        });
        let status = monitor.wait().map_err(CommandError::Wait)?;
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255);
        let _ = Container::load(root, &self.id).and_then(|c| c.delete(false));
        Ok(code)
    }
}
