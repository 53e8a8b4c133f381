//! `runvm kill`: send a signal to a container's process.

use clap::Args;

use super::CommandError;
use crate::container::Container;
use crate::oci::signal::parse_signal;

/// Send a signal to the container's process (default SIGTERM).
#[derive(Args, Debug)]
pub struct Kill {
    /// The container id.
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process of the container.
    #[arg(long, short = 'a')]
    pub all: bool,
}

impl Kill {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let signal = parse_signal(&self.signal)?;
        Container::load(root, &self.id)?.kill(signal, self.all)?;
        Ok(())
    }
}
