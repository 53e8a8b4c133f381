//! `runvm events`: a container's resource usage (cpu, memory, pids), read
//! from its cgroup in the guest, as runc's JSON lines. `--stats` prints
//! one line; otherwise a line every `--interval` until the container
//! stops.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use proto::stats::Event;

use super::CommandError;
use crate::container::{Container, ContainerError, Status};

/// How long a monitor that dropped a stats request may take to finish
/// exiting (it records `stopped` first, then tears the VM down).
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Whether container `id` is stopped or gone, now or within `grace`: its
/// state is read afresh each time, as the monitor records the end.
fn stopped_within(root: &std::path::Path, id: &str, grace: Duration) -> bool {
    let deadline = std::time::Instant::now() + grace;
    loop {
        match Container::load(root, id) {
            Ok(container) if container.status() == Status::Stopped => return true,
            Err(ContainerError::NotExist(_)) => return true,
            Ok(_) | Err(_) => {}
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Display a container's resource usage.
#[derive(Args, Debug)]
pub struct Events {
    /// Time between two lines.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print the usage once and exit.
    #[arg(long)]
    pub stats: bool,
    /// The container id.
    pub id: String,
}

impl Events {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let container = Container::load(root, &self.id)?;
        let mut out = std::io::stdout();
        loop {
            let data = match container.stats() {
                Ok(stats) => stats,
                // The container ended between two lines: so do the events.
                Err(_) if !self.stats && stopped_within(root, &self.id, EXIT_GRACE) => {
                    return Ok(())
                }
                Err(e) => return Err(e.into()),
            };
            let event = Event {
                kind: "stats".into(),
                id: self.id.clone(),
                data,
            };
            let line = serde_json::to_string(&event).map_err(|e| CommandError::Output(e.into()))?;
            writeln!(out, "{line}").map_err(CommandError::Output)?;
            if self.stats {
                return Ok(());
            }
            std::thread::sleep(self.interval);
        }
    }
}
