//! Messages between the runvm host monitor and the guest agent.

/// I/O port through which the guest init ends the VM with an exit status.
///
/// The guest init (PID 1) writes a single byte, its exit status, to this port
/// with `out dx, al` once it is done; the VMM treats that write as the VM
/// powering off and reports the byte as the VM's exit status (0 = success).
/// A port write needs no ACPI or reboot driver in the guest kernel and lets the
/// status travel with the power-off, which a triple-fault or i8042 reset cannot.
pub const EXIT_PORT: u16 = 0x501;

pub mod agent;
pub mod features;
pub mod frame;
pub mod net;
pub mod stats;
pub mod timing;
