//! `runvm pause`: suspend every process of a container by stopping its VM's vCPUs.

use clap::Args;

use super::CommandError;
use crate::container::Container;

/// Pause a container: its VM's vCPUs stop until `runvm resume`.
#[derive(Args, Debug)]
pub struct Pause {
    /// The container id.
    pub id: String,
}

impl Pause {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        Container::load(root, &self.id)?.pause()?;
        Ok(())
    }
}
