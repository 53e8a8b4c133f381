//! `runvm exec`: run a new process in a container, from `--process FILE`
//! or from the container's own process with the command and flags given,
//! as `runc exec` builds it.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use proto::agent::ExitStatus;

use super::CommandError;
use crate::container::exec::{check_process, load_process, ExecOptions, ProcessFileError};
use crate::container::Container;
use crate::oci::bundle;

/// Run a process in a created or running container.
#[derive(Args, Debug)]
pub struct Exec {
    /// A JSON file with the OCI process to run (then no command is given).
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the host pid of the process's relay here.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (with --tty).
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (NAME=VALUE); repeatable.
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    /// An additional gid; repeatable.
    #[arg(long, short = 'g')]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN); repeatable.
    #[arg(long, short = 'c')]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// The AppArmor profile (recorded; the guest has no AppArmor).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// The SELinux label (recorded; the guest has no SELinux).
    #[arg(long)]
    pub process_label: Option<String>,
    /// Extra fds to pass to the process (not supported).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility: the VM is never paused under exec.
    #[arg(long)]
    pub ignore_paused: bool,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// What is wrong with the exec flags.
#[derive(Debug, thiserror::Error)]
pub enum ExecFlagError {
    #[error("exec args cannot be empty")]
    NoCommand,
    #[error("--user {0:?}: expected UID[:GID] as numbers")]
    User(String),
    #[error("--env {0:?}: expected NAME=VALUE")]
    Env(String),
    #[error("--cap {0:?}: unknown capability")]
    Cap(String),
    #[error("cannot allocate tty if runvm will detach without setting console socket")]
    DetachedTtyWithoutSocket,
    #[error("cannot use console socket if runvm will not allocate tty")]
    SocketWithoutTty,
    #[error(transparent)]
    Process(#[from] ProcessFileError),
}

fn parse_user(text: &str) -> Result<(u32, Option<u32>), ExecFlagError> {
    let bad = || ExecFlagError::User(text.to_string());
    let (uid, gid) = match text.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid.parse().map_err(|_| bad())?)),
        None => (text, None),
    };
    Ok((uid.parse().map_err(|_| bad())?, gid))
}

fn parse_cap(text: &str) -> Result<Capability, ExecFlagError> {
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("CAP_").unwrap_or(&name);
    Capability::from_str(name).map_err(|_| ExecFlagError::Cap(text.to_string()))
}

impl Exec {
    /// The process to run: `--process`, or the container's own process
    /// with the command and flags applied.
    fn build_process(
        &self,
        base: impl FnOnce() -> Result<Process, CommandError>,
    ) -> Result<Process, CommandError> {
        if let Some(path) = &self.process {
            return Ok(load_process(path).map_err(ExecFlagError::from)?);
        }
        if self.command.is_empty() {
            return Err(ExecFlagError::NoCommand.into());
        }
        let mut process = base()?;
        process.set_args(Some(self.command.clone()));
        process.set_terminal(Some(self.tty));
        if let Some(cwd) = &self.cwd {
            process.set_cwd(cwd.clone());
        }
        let mut env = process.env().clone().unwrap_or_default();
        for entry in &self.env {
            let (name, _) = entry
                .split_once('=')
                .ok_or_else(|| ExecFlagError::Env(entry.clone()))?;
            env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(name));
            env.push(entry.clone());
        }
        process.set_env(Some(env));
        let mut user = process.user().clone();
        if let Some(text) = &self.user {
            let (uid, gid) = parse_user(text)?;
            user.set_uid(uid);
            if let Some(gid) = gid {
                user.set_gid(gid);
            }
        }
        if !self.additional_gids.is_empty() {
            let mut gids = user.additional_gids().clone().unwrap_or_default();
            gids.extend(&self.additional_gids);
            user.set_additional_gids(Some(gids));
        }
        process.set_user(user);
        if !self.cap.is_empty() {
            let caps = self
                .cap
                .iter()
                .map(|c| parse_cap(c))
                .collect::<Result<Vec<_>, _>>()?;
            let mut sets = process.capabilities().clone().unwrap_or_else(empty_caps);
            let add = |set: Option<&std::collections::HashSet<Capability>>| {
                let mut set = set.cloned().unwrap_or_default();
                set.extend(caps.iter().copied());
                Some(set)
            };
            sets.set_bounding(add(sets.bounding().as_ref()));
            sets.set_effective(add(sets.effective().as_ref()));
            sets.set_permitted(add(sets.permitted().as_ref()));
            process.set_capabilities(Some(sets));
        }
        if self.no_new_privs {
            process.set_no_new_privileges(Some(true));
        }
        if self.apparmor.is_some() {
            process.set_apparmor_profile(self.apparmor.clone());
        }
        if self.process_label.is_some() {
            process.set_selinux_label(self.process_label.clone());
        }
        check_process(&process).map_err(ExecFlagError::from)?;
        Ok(process)
    }

    /// Runs the process; attached, returns how it ended.
    pub fn run(&self, root: &std::path::Path) -> Result<Option<ExitStatus>, CommandError> {
        if self.preserve_fds > 0 {
            return Err(CommandError::PreserveFds);
        }
        let container = Container::load(root, &self.id)?;
        let process = self.build_process(|| {
            let bundle = bundle::load(&container.state.bundle, true)?;
            Ok(bundle.spec.process().clone().unwrap_or_default())
        })?;
        let terminal = process.terminal().unwrap_or(false);
        if self.detach && terminal && self.console_socket.is_none() {
            return Err(ExecFlagError::DetachedTtyWithoutSocket.into());
        }
        if !terminal && self.console_socket.is_some() {
            return Err(ExecFlagError::SocketWithoutTty.into());
        }
        let options = ExecOptions {
            process,
            detach: self.detach,
            pid_file: self.pid_file.as_deref(),
            console_socket: self.console_socket.as_deref(),
        };
        Ok(container.exec(&options)?)
    }
}

fn empty_caps() -> LinuxCapabilities {
    let none = Some(Default::default());
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(none.clone());
    caps.set_effective(none.clone());
    caps.set_permitted(none.clone());
    caps.set_inheritable(none.clone());
    caps.set_ambient(none);
    caps
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use oci_spec::runtime::User;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        exec: Exec,
    }

    fn exec(args: &[&str]) -> Exec {
        Cli::try_parse_from(std::iter::once("exec").chain(args.iter().copied()))
            .unwrap()
            .exec
    }

    fn base() -> Result<Process, CommandError> {
        let mut process = Process::default();
        process.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        process.set_user(User::default());
        Ok(process)
    }

    #[test]
    fn flags_shape_the_container_process() {
        let process = exec(&[
            "-t",
            "--cwd",
            "/tmp",
            "-e",
            "A=2",
            "-e",
            "B=3",
            "-u",
            "1000:100",
            "-g",
            "5",
            "--cap",
            "net_admin",
            "--no-new-privs",
            "c1",
            "ls",
            "-l",
            "/",
        ])
        .build_process(base)
        .unwrap();
        assert_eq!(process.args().clone().unwrap(), ["ls", "-l", "/"]);
        assert_eq!(process.terminal(), Some(true));
        assert_eq!(process.cwd(), &PathBuf::from("/tmp"));
        assert_eq!(process.env().clone().unwrap(), ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(process.user().uid(), 1000);
        assert_eq!(process.user().gid(), 100);
        assert_eq!(process.user().additional_gids().clone().unwrap(), [5]);
        let caps = process.capabilities().clone().unwrap();
        assert!(caps
            .effective()
            .clone()
            .unwrap()
            .contains(&Capability::NetAdmin));
        assert!(caps
            .bounding()
            .clone()
            .unwrap()
            .contains(&Capability::NetAdmin));
        assert_eq!(process.no_new_privileges(), Some(true));
    }

    #[test]
    fn bad_flags_are_named() {
        let err = |args: &[&str]| exec(args).build_process(base).unwrap_err().to_string();
        assert_eq!(err(&["c1"]), "exec args cannot be empty");
        assert!(err(&["-u", "root", "c1", "ls"]).contains("--user \"root\""));
        assert!(err(&["-e", "NOVALUE", "c1", "ls"]).contains("--env \"NOVALUE\""));
        assert!(err(&["--cap", "CAP_FLY", "c1", "ls"]).contains("CAP_FLY"));
        assert!(err(&["--cwd", "rel", "c1", "ls"]).contains("absolute"));
    }

    #[test]
    fn process_file_wins_over_the_container_process() {
        let path = std::env::temp_dir().join(format!("runvm-exec-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"args":["id"],"cwd":"/","user":{"uid":7,"gid":7}}"#,
        )
        .unwrap();
        let process = exec(&["-p", path.to_str().unwrap(), "c1"])
            .build_process(|| panic!("the container's process is not needed"))
            .unwrap();
        assert_eq!(process.user().uid(), 7);
        std::fs::write(&path, "[1,2").unwrap();
        let err = exec(&["-p", path.to_str().unwrap(), "c1"])
            .build_process(base)
            .unwrap_err();
        assert!(crate::error_chain::error_chain(&err).contains("invalid process JSON"));
        std::fs::remove_file(&path).unwrap();
    }
}
