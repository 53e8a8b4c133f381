//! `runvm run`: create and start a container, then wait for it and exit
//! with its status (128+N if a signal N killed it), as `runc run` does.
//! Signals runvm receives meanwhile go to the container.

use std::os::unix::process::ExitStatusExt;

use clap::Args;
use nix::sys::signal::{kill, SigSet};
use nix::unistd::Pid;

use super::create::Create;
use super::{CommandError, GlobalFlags};
use crate::container::Container;
use crate::monitor::session::FORWARDED_SIGNALS;

/// Create and run a container.
#[derive(Args, Debug)]
pub struct Run {
    /// What `create` takes.
    #[command(flatten)]
    pub create: Create,
    /// Return once the container has started.
    #[arg(long, short = 'd')]
    pub detach: bool,
}

impl Run {
    /// Runs the container; returns the exit code for runvm.
    pub fn run(&self, root: &std::path::Path, flags: &GlobalFlags) -> Result<i32, CommandError> {
        let mut signals = SigSet::empty();
        if !self.detach {
            FORWARDED_SIGNALS.iter().for_each(|s| signals.add(*s));
            // Blocked before the monitor starts: it inherits the mask and
            // takes the same signals with sigwait.
            let _ = signals.thread_block();
        }
        let id = &self.create.id;
        let mut monitor = self.create.run(root, flags)?;
        let container = Container::load(root, id)?;
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
        vmm::timing::mark("monitor gone");
        let code = status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255);
        let _ = Container::load(root, id).and_then(|c| c.delete(false));
        vmm::timing::mark("deleted");
        Ok(code)
    }
}
