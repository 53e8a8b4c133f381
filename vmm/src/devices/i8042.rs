//! The i8042 keyboard controller, as far as the kernel's `reboot=k` path
//! needs it (vm-superio's): its CPU-reset command ends the VM.

use std::sync::Arc;

use vm_superio::{I8042Device, Trigger};

use super::bus::BusDevice;
use crate::exit::{ExitEvent, ResetCause, VmExit};

/// Port of the data register, the controller's base.
pub const DATA_PORT: u64 = 0x60;
/// Ports from the data register to the status/command register (0x64).
pub const PORTS: u64 = 5;

/// Signals a reset to the run loop.
pub struct ResetTrigger(Arc<ExitEvent>);

impl Trigger for ResetTrigger {
    type E = std::convert::Infallible;

    fn trigger(&self) -> Result<(), Self::E> {
        self.0.signal(VmExit::Reset(ResetCause::Requested));
        Ok(())
    }
}

/// An i8042 with no keyboard whose reset command signals `exits`.
pub fn i8042(exits: Arc<ExitEvent>) -> I8042Device<ResetTrigger> {
    I8042Device::new(ResetTrigger(exits))
}

impl BusDevice for I8042Device<ResetTrigger> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let value = u8::try_from(offset).map_or(0, |reg| I8042Device::read(self, reg));
        data.fill(value);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let (Ok(reg), Some(&value)) = (u8::try_from(offset), data.first()) {
            let Ok(()) = I8042Device::write(self, reg, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND_OFFSET: u64 = 4;
    const CMD_RESET_CPU: u8 = 0xfe;

    #[test]
    fn reset_command_ends_the_vm() {
        let exits = Arc::new(ExitEvent::new().unwrap());
        let mut dev = i8042(exits.clone());
        BusDevice::write(&mut dev, COMMAND_OFFSET, &[CMD_RESET_CPU]);
        assert_eq!(exits.wait().unwrap(), VmExit::Reset(ResetCause::Requested));
    }

    #[test]
    fn other_writes_are_not_resets() {
        let exits = Arc::new(ExitEvent::new().unwrap());
        let mut dev = i8042(exits.clone());
        BusDevice::write(&mut dev, 0, &[CMD_RESET_CPU]);
        BusDevice::write(&mut dev, COMMAND_OFFSET, &[0xaa]);
        BusDevice::write(&mut dev, 1 << 40, &[CMD_RESET_CPU]);
        let mut status = [0xffu8];
        BusDevice::read(&mut dev, COMMAND_OFFSET, &mut status);
        assert_eq!(status, [0], "nothing to read, ready for a command");
        exits.signal(VmExit::PoweredOff(0));
        assert_eq!(exits.wait().unwrap(), VmExit::PoweredOff(0));
    }
}
