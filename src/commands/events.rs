//! `runvm events`: a container's resource usage (cpu, memory, pids), read
//! from its cgroup in the guest, as runc's JSON lines. `--stats` prints
//! one line; otherwise a line every `--interval` until the container
//! stops.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use proto::stats::Event;

use super::CommandError;
use crate::container::{Container, EXIT_GRACE};

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
                Err(_) if !self.stats && container.ends_within(EXIT_GRACE) => return Ok(()),
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
