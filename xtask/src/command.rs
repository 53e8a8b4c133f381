//! Running the external tools the builds drive (tar, make, cargo, dpkg-query).

use std::process::{Command, ExitStatus};

/// A tool that could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("starting {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed: {status}")]
    Failed { program: String, status: ExitStatus },
    #[error("{program} printed something that is not UTF-8")]
    NotUtf8 { program: String },
}

/// Runs `command` with its output on our stderr, keeping our stdout for the
/// paths of what was built; fails unless it exits 0.
pub fn run(command: &mut Command) -> Result<(), CommandError> {
    let program = program_name(command);
    let status = command
        .stdout(std::io::stderr())
        .status()
        .map_err(|source| CommandError::Spawn {
            program: program.clone(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(CommandError::Failed { program, status })
    }
}

/// Runs `command` and returns its stdout; stderr is passed through.
pub fn output(command: &mut Command) -> Result<String, CommandError> {
    let program = program_name(command);
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|source| CommandError::Spawn {
            program: program.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(CommandError::Failed {
            program,
            status: output.status,
        });
    }
    String::from_utf8(output.stdout).map_err(|_| CommandError::NotUtf8 { program })
}

fn program_name(command: &Command) -> String {
    command.get_program().to_string_lossy().into_owned()
}
