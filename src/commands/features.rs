//! `runvm features`: what this runtime supports, as the OCI features JSON.

use std::io::Write;

use clap::Args;

use super::CommandError;
use crate::oci::features;

/// Show the enabled features.
#[derive(Args, Debug)]
pub struct Features {}

impl Features {
    pub fn run(&self) -> Result<(), CommandError> {
        let json =
            features::to_json(&features::features()).map_err(|e| CommandError::Output(e.into()))?;
        writeln!(std::io::stdout(), "{json}").map_err(CommandError::Output)
    }
}
