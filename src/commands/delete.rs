//! `runvm delete`: remove a stopped container (`--force`: any).

use clap::Args;

use super::CommandError;
use crate::container::Container;

/// Delete a container.
#[derive(Args, Debug)]
pub struct Delete {
    /// The container id.
    pub id: String,
    /// Kill the container first if it is not stopped.
    #[arg(long, short = 'f')]
    pub force: bool,
}

impl Delete {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        Container::load(root, &self.id)?.delete(self.force)?;
        Ok(())
    }
}
