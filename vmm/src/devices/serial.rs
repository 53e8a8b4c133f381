//! The 8250 UART the guest kernel's console writes to (vm-superio), its
//! interrupt raised through an eventfd bound to the IRQ with irqfd.

use std::io::Write;

use vm_superio::serial::NoEvents;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

use super::bus::BusDevice;

/// The COM1 ports.
pub const COM1_BASE: u64 = 0x3f8;
/// Registers of one UART.
pub const COM1_LEN: u64 = 8;
/// COM1's ISA interrupt.
pub const COM1_IRQ: u32 = 4;

/// Raises the serial interrupt by writing to an irqfd.
pub struct EventFdTrigger(pub EventFd);

impl Trigger for EventFdTrigger {
    type E = std::io::Error;

    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// COM1, writing what the guest sends to `W`.
pub struct SerialConsole<W: Write + Send> {
    uart: Serial<EventFdTrigger, NoEvents, W>,
}

impl<W: Write + Send> SerialConsole<W> {
    /// A UART whose interrupt is `irq` and whose output goes to `out`.
    pub fn new(irq: EventFd, out: W) -> Self {
        Self {
            uart: Serial::new(EventFdTrigger(irq), out),
        }
    }
}

impl<W: Write + Send> BusDevice for SerialConsole<W> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        let value = u8::try_from(offset).map_or(0, |reg| self.uart.read(reg));
        data.fill(value);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        let (Ok(reg), Some(&value)) = (u8::try_from(offset), data.first()) else {
            return;
        };
        // A console whose reader went away (EPIPE) must not stop the guest;
        // the byte is dropped.
        let _ = self.uart.write(reg, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THR: u64 = 0;
    const IER: u64 = 1;

    #[test]
    fn guest_bytes_reach_the_writer_and_raise_the_irq() {
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let mut console = SerialConsole::new(irq.try_clone().unwrap(), Vec::new());
        // Enable the "transmitter empty" interrupt, then send two bytes.
        console.write(IER, &[0x2]);
        console.write(THR, b"h");
        console.write(THR, b"i");
        assert_eq!(console.uart.writer(), b"hi");
        assert!(irq.read().unwrap() >= 1);
    }

    #[test]
    fn out_of_range_offsets_are_ignored() {
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let mut console = SerialConsole::new(irq, Vec::new());
        console.write(1 << 40, b"x");
        let mut data = [0xffu8; 1];
        console.read(1 << 40, &mut data);
        assert_eq!(data, [0]);
        assert!(console.uart.writer().is_empty());
    }
}
