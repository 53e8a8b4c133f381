//! `runvm state`: print a container's OCI state as JSON.

use std::io::Write;

use clap::Args;

use super::CommandError;
use crate::container::Container;

/// Output the state of a container.
#[derive(Args, Debug)]
pub struct State {
    /// The container id.
    pub id: String,
}

impl State {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let container = Container::load(root, &self.id)?;
        let json = serde_json::to_string_pretty(&container.oci_state())
            .map_err(|e| CommandError::Output(e.into()))?;
        writeln!(std::io::stdout(), "{json}").map_err(CommandError::Output)
    }
}
