//! The runvm command line: runc's global flags and verbs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runvm::commands::boot::Boot;
use runvm::{logging, monitor};

/// A runc-compatible OCI runtime that runs each container in its own KVM
/// microVM.
#[derive(Parser, Debug)]
#[command(name = "runvm", version)]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = "/run/runvm")]
    root: std::path::PathBuf,
    /// Append log output to this file.
    #[arg(long, global = true)]
    log: Option<std::path::PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug output.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility: cgroups apply inside the guest.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Boot(Boot),
}

/// Prints an error and its causes as one line.
fn report(err: &(dyn std::error::Error + 'static)) {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    eprintln!("runvm: {line}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = logging::init(cli.log.as_deref(), cli.log_format == "json", cli.debug) {
        report(&err);
        return ExitCode::FAILURE;
    }
    tracing::debug!(root = %cli.root.display(), systemd_cgroup = cli.systemd_cgroup, "runvm starting");
    match cli.command {
        Command::Boot(boot) => match boot.run(&cli.root) {
            Ok(status) => monitor::mirror_exit(status),
            Err(err) => {
                report(&err);
                ExitCode::FAILURE
            }
        },
    }
}
