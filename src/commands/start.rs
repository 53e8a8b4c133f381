//! `runvm start`: start a created container's process.

use clap::Args;

use super::CommandError;
use crate::container::Container;

/// Start a created container.
#[derive(Args, Debug)]
pub struct Start {
    /// The container id.
    pub id: String,
}

impl Start {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        Container::load(root, &self.id)?.start()?;
        Ok(())
    }
}
