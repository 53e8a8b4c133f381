//! `runvm boot`: a debug verb that boots the guest kernel to its init and
//! streams the serial console to stdout.

use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::Args;
use vmm::host_check::{check_kvm, KvmUnusable, LocalHost};
use vmm::{BootImages, Vm, VmConfig, VmError, VmExit};

use crate::guest_images::{self, ImageError};

/// The kernel command line when none is given: console on COM1, reboot
/// through the i8042 (the VMM's reset), never wait after a panic.
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 nomodule";

/// Boot a microVM and stream its console (debugging aid).
#[derive(Args, Debug)]
pub struct Boot {
    /// Guest kernel (ELF vmlinux or bzImage); default: the embedded one.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Guest initramfs; default: the embedded one.
    #[arg(long)]
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, default_value = DEFAULT_CMDLINE)]
    pub cmdline: String,
    /// Guest RAM in MiB.
    #[arg(long, default_value_t = 128)]
    pub memory: u64,
    /// Number of vCPUs.
    #[arg(long, default_value_t = 1)]
    pub cpus: u8,
}

/// Why `runvm boot` failed.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error(transparent)]
    Host(#[from] KvmUnusable),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("duplicating stdout for the guest console")]
    Console(#[source] std::io::Error),
    #[error("starting the VM")]
    Vm(#[from] VmError),
    #[error("the guest reset without reporting an exit status")]
    Reset,
    #[error("vCPU {vcpu} stopped: {error}")]
    Vcpu {
        vcpu: u8,
        error: vmm::vcpu::VcpuError,
    },
}

impl Boot {
    /// Boots the VM and returns the exit status the guest reported.
    pub fn run(self) -> Result<u8, BootError> {
        check_kvm(&LocalHost)?;
        let kernel = guest_images::kernel(self.kernel.as_deref())?;
        let initrd = guest_images::initramfs(self.initrd.as_deref())?;
        // Unbuffered: console bytes reach the caller as the guest writes them.
        let console = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(BootError::Console)?;
        let config = VmConfig {
            vcpus: self.cpus,
            memory_mib: self.memory,
            images: BootImages {
                kernel: kernel.bytes(),
                initrd: Some(initrd.bytes()),
                cmdline: &self.cmdline,
            },
        };
        match Vm::new(&config, console)?.run()? {
            VmExit::PoweredOff(status) => Ok(status),
            VmExit::Reset => Err(BootError::Reset),
            VmExit::VcpuFailed { vcpu, error } => Err(BootError::Vcpu { vcpu, error }),
        }
    }
}
