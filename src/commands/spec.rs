//! `runvm spec`: write runc's example config.json in a bundle.

use std::path::PathBuf;

use clap::Args;

use super::CommandError;
use crate::oci::spec_template;

/// Create a new specification file.
#[derive(Args, Debug)]
pub struct Spec {
    /// The bundle directory to write config.json in.
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write a spec for a rootless container: a user namespace mapping
    /// root to the caller's effective uid and gid.
    #[arg(long)]
    pub rootless: bool,
}

impl Spec {
    pub fn run(&self) -> Result<(), CommandError> {
        let mut spec = spec_template::example();
        if self.rootless {
            let uid = nix::unistd::geteuid().as_raw();
            let gid = nix::unistd::getegid().as_raw();
            spec_template::to_rootless(&mut spec, uid, gid);
        }
        spec_template::write(&self.bundle, &spec)?;
        Ok(())
    }
}
