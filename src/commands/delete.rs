//! `runvm delete`: remove a stopped container (`--force`: any).

use clap::Args;

use super::CommandError;
use crate::container::{self, Container, ContainerError};

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
        match Container::load(root, &self.id) {
            Ok(container) => container.delete(self.force)?,
            // No state yet: a create that has not finished.
            Err(ContainerError::NotExist(_)) if self.force => {
                container::delete_unfinished(root, &self.id)?;
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
