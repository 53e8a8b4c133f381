//! `runvm resume`: let a paused container's VM run again.

use clap::Args;

use super::CommandError;
use crate::container::Container;

/// Resume a paused container.
#[derive(Args, Debug)]
pub struct Resume {
    /// The container id.
    pub id: String,
}

impl Resume {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        Container::load(root, &self.id)?.resume()?;
        Ok(())
    }
}
