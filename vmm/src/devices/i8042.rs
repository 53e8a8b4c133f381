//! Just enough of the i8042 keyboard controller for the kernel's
//! `reboot=k` path: the CPU-reset command ends the VM.

use std::sync::mpsc::Sender;

use super::bus::BusDevice;
use crate::vm::VmExit;

/// Port of the data register.
pub const DATA_PORT: u64 = 0x60;
/// Port of the status/command register.
pub const COMMAND_PORT: u64 = 0x64;
/// Offset of the command register from [`DATA_PORT`].
const COMMAND_OFFSET: u64 = COMMAND_PORT - DATA_PORT;
/// The "pulse reset line" command.
const CMD_RESET_CPU: u8 = 0xfe;

/// An i8042 with no keyboard: its status says "nothing to read, ready for
/// a command", and a reset command ends the VM.
pub struct I8042 {
    exits: Sender<VmExit>,
}

impl I8042 {
    /// A controller reporting resets to `exits`.
    pub fn new(exits: Sender<VmExit>) -> Self {
        Self { exits }
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == COMMAND_OFFSET && data.first() == Some(&CMD_RESET_CPU) {
            // The receiver is gone only when the VM is already ending.
            let _ = self.exits.send(VmExit::Reset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_command_ends_the_vm() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut dev = I8042::new(tx);
        dev.write(0, &[CMD_RESET_CPU]);
        assert!(rx.try_recv().is_err(), "a data byte is not a command");
        dev.write(COMMAND_OFFSET, &[0xaa]);
        assert!(rx.try_recv().is_err());
        dev.write(COMMAND_OFFSET, &[CMD_RESET_CPU]);
        assert_eq!(rx.try_recv().unwrap(), VmExit::Reset);
        let mut status = [0xffu8];
        dev.read(COMMAND_OFFSET, &mut status);
        assert_eq!(status, [0]);
    }
}
