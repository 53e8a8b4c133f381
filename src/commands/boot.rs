//! `runvm boot`: a debug verb. Without a command it boots the guest to its
//! init, streams the serial console to stdout and exits with the status
//! the init reports. With `-- COMMAND...` it is a monitor: the agent runs
//! COMMAND in the guest's own root (plus `--extra-initrd` archives), its
//! stdio is relayed, and runvm ends as COMMAND ended.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use oci_spec::runtime::{BoxBuilder, Process, ProcessBuilder, UserBuilder};
use proto::agent::ExitStatus;
use vmm::host_check::{check_kvm, KvmUnusable, LocalHost};
use vmm::{BootImages, Vm, VmConfig, VmError, VmExit};

use crate::monitor::guest_images::{self, GuestImages, Image, ImageError};
use crate::monitor::{self, MonitorConfig, MonitorError};

/// Boot a microVM and stream its console, or run a command in it.
#[derive(Args, Debug)]
pub struct Boot {
    /// Guest kernel (ELF vmlinux or bzImage); default: the embedded one.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Guest initramfs; default: the embedded one.
    #[arg(long)]
    pub initrd: Option<PathBuf>,
    /// A cpio archive unpacked over the initramfs (repeatable).
    #[arg(long = "extra-initrd")]
    pub extra_initrds: Vec<PathBuf>,
    /// Kernel command line [default: the guest's, plus `quiet` with a
    /// command].
    #[arg(long)]
    pub cmdline: Option<String>,
    /// Enter an ELF vmlinux through its PVH entry point (default: the
    /// 64-bit Linux boot protocol).
    #[arg(long)]
    pub pvh: bool,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 128)]
    pub memory: u64,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    pub cpus: u8,
    /// Run COMMAND on a pty in the guest.
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Initial pty size as ROWSxCOLS.
    #[arg(long, value_parser = parse_console_size)]
    pub console_size: Option<(u32, u32)>,
    /// Environment variable for COMMAND (repeatable).
    #[arg(long, short = 'e')]
    pub env: Vec<String>,
    /// Working directory of COMMAND in the guest.
    #[arg(long, default_value = "/")]
    pub cwd: PathBuf,
    /// Accept signal and resize requests for COMMAND on this socket.
    #[arg(long)]
    pub control: Option<PathBuf>,
    /// Seconds the guest may take to boot to its agent.
    #[arg(long, default_value_t = 120)]
    pub agent_timeout: u64,
    /// The command to run in the guest.
    #[arg(last = true)]
    pub command: Vec<String>,
}

fn parse_console_size(value: &str) -> Result<(u32, u32), String> {
    let parse = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
    match value.split_once('x') {
        Some((rows, cols)) => parse(rows)
            .zip(parse(cols))
            .ok_or_else(|| format!("console size {value:?} is not ROWSxCOLS")),
        None => Err(format!("console size {value:?} is not ROWSxCOLS")),
    }
}

/// Why `runvm boot` failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Host(#[from] KvmUnusable),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("reading {}", .0.display())]
    ExtraInitrd(PathBuf, #[source] std::io::Error),
    #[error("duplicating stdout for the guest console")]
    Console(#[source] std::io::Error),
    #[error("starting the VM")]
    Vm(#[from] VmError),
    #[error("the guest reset without reporting an exit status ({0})")]
    Reset(vmm::ResetCause),
    #[error("vCPU {vcpu} stopped: {error}")]
    Vcpu { vcpu: u8, error: vmm::VcpuError },
    #[error("building the process spec")]
    Process(#[from] oci_spec::OciSpecError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Seccomp(#[from] vmm::seccomp::SeccompError),
}

/// Concatenates cpio archives, each padded to 4 bytes, as the kernel
/// unpacks them in order.
fn concat_initrds(base: &[u8], extra: &[PathBuf]) -> Result<Vec<u8>, BootError> {
    let mut initrd = base.to_vec();
    for path in extra {
        initrd.resize(initrd.len().next_multiple_of(4), 0);
        let bytes = std::fs::read(path).map_err(|e| BootError::ExtraInitrd(path.clone(), e))?;
        initrd.extend_from_slice(&bytes);
    }
    Ok(initrd)
}

impl Boot {
    fn process(&self) -> Result<Process, BootError> {
        let mut env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
        if self.tty {
            env.push("TERM=xterm".to_string());
        }
        env.extend(self.env.iter().cloned());
        let mut process = ProcessBuilder::default()
            .args(self.command.clone())
            .env(env)
            .cwd(&self.cwd)
            .terminal(self.tty)
            .user(UserBuilder::default().uid(0u32).gid(0u32).build()?);
        if let Some((height, width)) = self.console_size {
            let size = BoxBuilder::default().height(height).width(width).build()?;
            process = process.console_size(size);
        }
        let mut process = process.build()?;
        // Only what the flags say: not the builder's container defaults.
        process.set_capabilities(None);
        process.set_rlimits(None);
        process.set_no_new_privileges(None);
        Ok(process)
    }

    /// Boots the VM; returns how the guest init or the command ended.
    pub fn run(self, root: &Path) -> Result<ExitStatus, BootError> {
        check_kvm(&LocalHost)?;
        vmm::seccomp::report_denials_to(crate::logging::raw_fd(), crate::logging::json())?;
        let kernel = guest_images::kernel(self.kernel.as_deref())?;
        let initrd = guest_images::initramfs(self.initrd.as_deref())?;
        let initrd = concat_initrds(initrd.bytes(), &self.extra_initrds)?;
        // With a command, the console is a log nobody watches.
        let default_cmdline = if self.command.is_empty() {
            guest_images::CMDLINE
        } else {
            guest_images::QUIET_CMDLINE
        };
        let cmdline = self.cmdline.as_deref().unwrap_or(default_cmdline);
        if self.command.is_empty() {
            let images = BootImages {
                kernel: kernel.bytes(),
                initrd: Some(&initrd),
                cmdline,
                pvh: self.pvh,
            };
            return boot_to_power_off(self.cpus, self.memory, images);
        }
        let images = GuestImages {
            kernel,
            initrd: Some(Image::File(initrd)),
            cmdline: cmdline.to_string(),
            pvh: self.pvh,
        };
        let runtime_dir = root.join(format!("boot-{}", std::process::id()));
        let config = MonitorConfig {
            vcpus: self.cpus,
            memory_mib: self.memory,
            images,
            process: self.process()?,
            runtime_dir: runtime_dir.clone(),
            control_socket: self.control.clone(),
            agent_timeout: Duration::from_secs(self.agent_timeout),
            container: None,
            launch: monitor::Launch::Immediately,
        };
        let result = monitor::run(config);
        let _ = std::fs::remove_dir_all(&runtime_dir);
        Ok(result?)
    }
}

fn boot_to_power_off(
    vcpus: u8,
    memory_mib: u64,
    images: BootImages,
) -> Result<ExitStatus, BootError> {
    // Unbuffered: console bytes reach the caller as the guest writes them.
    let console = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .map_err(BootError::Console)?;
    let config = VmConfig {
        vcpus,
        memory_mib,
        images,
        vsock_uds: None,
        fs_share: None,
        net: Vec::new(),
    };
    match Vm::new(&config, console)?.run()? {
        VmExit::PoweredOff(status) => Ok(ExitStatus::Code(i32::from(status))),
        VmExit::Reset(cause) => Err(BootError::Reset(cause)),
        VmExit::VcpuFailed { vcpu, error } => Err(BootError::Vcpu { vcpu, error }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_size_parses_rows_by_cols() {
        assert_eq!(parse_console_size("40x100"), Ok((40, 100)));
        assert!(parse_console_size("40").is_err());
        assert!(parse_console_size("0x80").is_err());
        assert!(parse_console_size("ax80").is_err());
    }

    #[test]
    fn extra_initrds_are_appended_aligned() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let extra = dir.join("extra.cpio");
        std::fs::write(&extra, b"EXTRA").unwrap();
        let joined = concat_initrds(b"abcde", &[extra]).unwrap();
        assert_eq!(joined, b"abcde\0\0\0EXTRA");
        let err = concat_initrds(b"", &[dir.join("missing")]).unwrap_err();
        assert!(err.to_string().contains("missing"));
    }

    #[test]
    fn process_spec_from_flags() {
        let boot = Boot {
            kernel: None,
            initrd: None,
            extra_initrds: vec![],
            cmdline: None,
            pvh: false,
            memory: 128,
            cpus: 1,
            tty: true,
            console_size: Some((40, 100)),
            env: vec!["A=b".into()],
            cwd: "/tmp".into(),
            control: None,
            agent_timeout: 1,
            command: vec!["sh".into(), "-c".into(), "tty".into()],
        };
        let process = boot.process().unwrap();
        assert_eq!(process.args().as_deref(), Some(&boot.command[..]));
        assert_eq!(process.terminal(), Some(true));
        assert!(process.env().as_ref().unwrap().contains(&"A=b".to_string()));
        let size = process.console_size().unwrap();
        assert_eq!((size.height(), size.width()), (40, 100));
    }
}
