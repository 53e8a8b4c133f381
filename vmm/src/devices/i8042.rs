//! Just enough of the i8042 keyboard controller for the kernel's
//! `reboot=k` path: the CPU-reset command ends the VM.

use std::sync::Arc;

use super::bus::BusDevice;
use crate::exit::{ExitEvent, VmExit};

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
    exits: Arc<ExitEvent>,
}

impl I8042 {
    /// A controller reporting resets to `exits`.
    pub fn new(exits: Arc<ExitEvent>) -> Self {
        Self { exits }
    }
}

impl BusDevice for I8042 {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if offset == COMMAND_OFFSET && data.first() == Some(&CMD_RESET_CPU) {
            self.exits.signal(VmExit::Reset);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_command_ends_the_vm() {
        let exits = Arc::new(ExitEvent::new().unwrap());
        let mut dev = I8042::new(exits.clone());
        dev.write(0, &[CMD_RESET_CPU]);
        dev.write(COMMAND_OFFSET, &[0xaa]);
        let mut status = [0xffu8];
        dev.read(COMMAND_OFFSET, &mut status);
        assert_eq!(status, [0]);
        dev.write(COMMAND_OFFSET, &[CMD_RESET_CPU]);
        exits.signal(VmExit::PoweredOff(0));
        assert_eq!(
            exits.wait().unwrap(),
            VmExit::Reset,
            "the first exit was the reset"
        );
    }
}
