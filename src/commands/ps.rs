//! `runvm ps`: the processes in a container. The pids are the guest's:
//! the container's processes live in the VM, not on the host.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::CommandError;
use crate::container::Container;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// List the processes of a container (guest pids).
#[derive(Args, Debug)]
pub struct Ps {
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    pub format: Format,
    /// The container id.
    pub id: String,
}

impl Ps {
    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let processes = Container::load(root, &self.id)?.processes()?;
        let out = match self.format {
            Format::Json => {
                let pids: Vec<i32> = processes.iter().map(|p| p.pid).collect();
                format!(
                    "{}\n",
                    serde_json::to_string(&pids).map_err(|e| CommandError::Output(e.into()))?
                )
            }
            Format::Table => {
                let mut out = String::from("PID\tEXEC ID\n");
                for p in &processes {
                    out.push_str(&format!("{}\t{}\n", p.pid, p.exec_id));
                }
                out
            }
        };
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(CommandError::Output)
    }
}
