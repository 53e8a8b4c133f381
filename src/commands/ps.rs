//! `runvm ps`: the processes in a container. They run in the VM, so the
//! pids callers can use are those of the host processes that stand for
//! them: the monitor for the container's process, the `runvm exec` that
//! relays each exec'd one. dockerd (`docker top`) and containerd's shim
//! look the pids of `--format json` up among the host's processes, so
//! that format lists only these; the table shows the guest's pids too.

use std::io::Write;

use clap::{Args, ValueEnum};

use super::CommandError;
use crate::container::Container;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// List the processes of a container.
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
                let mut pids: Vec<i32> = processes.iter().filter_map(|(pid, _)| *pid).collect();
                pids.sort_unstable();
                pids.dedup();
                format!(
                    "{}\n",
                    serde_json::to_string(&pids).map_err(|e| CommandError::Output(e.into()))?
                )
            }
            Format::Table => {
                let mut out = String::from("PID\tGUEST PID\tEXEC ID\n");
                for (pid, process) in &processes {
                    let pid = pid.map_or_else(|| "-".to_string(), |pid| pid.to_string());
                    out.push_str(&format!("{pid}\t{}\t{}\n", process.pid, process.exec_id));
                }
                out
            }
        };
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(CommandError::Output)
    }
}
