//! `runvm list`: the containers under `--root`.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::CommandError;
use crate::container::Container;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// List containers.
#[derive(Args, Debug)]
pub struct List {
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: Format,
    /// Print only the ids.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl List {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let containers = Container::list(root);
        let mut out = String::new();
        if self.quiet {
            for c in &containers {
                out.push_str(&c.state.id);
                out.push('\n');
            }
        } else {
            match self.format {
                Format::Json => {
                    let states: Vec<_> = containers.iter().map(Container::oci_state).collect();
                    out = serde_json::to_string(&states)
                        .map_err(|e| CommandError::Output(e.into()))?;
                    out.push('\n');
                }
                Format::Table => {
                    out.push_str("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
                    for c in &containers {
                        out.push_str(&format!(
                            "{}\t{}\t{}\t{}\t{}\troot\n",
                            c.state.id,
                            c.state.pid,
                            c.status(),
                            c.state.bundle.display(),
                            c.state.created
                        ));
                    }
                }
            }
        }
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(CommandError::Output)
    }
}
