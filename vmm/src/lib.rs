//! The runvm VMM: a KVM microVM with guest RAM, vCPUs and devices, booted
//! from a Linux kernel. The runvm CLI is a front end on this library.

pub mod arch;
pub mod devices;
pub mod exit;
pub mod host_check;
pub mod memory;
pub mod pause;
pub mod seccomp;
pub mod timing;
pub mod vcpu;
pub mod vm;

pub use arch::boot::BootImages;
pub use exit::{ResetCause, VcpuError, VmExit};
pub use pause::{PauseError, PauseGate};
/// The host side of a [`NetDevice`], so that callers need not name the
/// virtio crate.
pub use virtio::net::{Tap, TapError};
pub use vm::{FsShare, NetDevice, Vm, VmConfig, VmError};
