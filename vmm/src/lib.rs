//! The runvm VMM: a KVM microVM with guest RAM, vCPUs and devices, booted
//! from a Linux kernel. The runvm CLI is a front end on this library.

pub mod arch;
pub mod devices;
pub mod host_check;
pub mod memory;
pub mod pause;
pub mod seccomp;
pub mod vcpu;
pub mod vm;

pub use arch::boot::BootImages;
pub use pause::{PauseError, PauseGate};
pub use vm::{FsShare, NetDevice, Vm, VmConfig, VmError, VmExit};
