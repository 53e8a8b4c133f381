//! Virtio devices on the MMIO bus: the transport behind the bus trait,
//! and where each device's window and interrupt are.

use virtio::MmioTransport;

use super::bus::BusDevice;
use crate::arch::layout::MMIO_GAP_START;

/// Size of one virtio-mmio window.
pub const WINDOW_SIZE: u64 = virtio::mmio::MMIO_WINDOW_SIZE;
/// The first IRQ for virtio devices; the ISA devices use those below.
pub const FIRST_IRQ: u32 = 5;

/// Window base and IRQ of the `index`th virtio device.
pub fn slot(index: u32) -> (u64, u32) {
    (
        MMIO_GAP_START + u64::from(index) * WINDOW_SIZE,
        FIRST_IRQ + index,
    )
}

/// How the kernel learns of a device without a bus to probe.
pub fn cmdline_announcement(base: u64, irq: u32) -> String {
    format!("virtio_mmio.device={}K@{base:#x}:{irq}", WINDOW_SIZE / 1024)
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        MmioTransport::read(self, offset, data);
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        MmioTransport::write(self, offset, data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_get_consecutive_windows_and_irqs() {
        assert_eq!(slot(0), (0xd000_0000, 5));
        assert_eq!(slot(1), (0xd000_1000, 6));
    }

    #[test]
    fn announcement_is_what_virtio_mmio_parses() {
        assert_eq!(
            cmdline_announcement(0xd000_0000, 5),
            "virtio_mmio.device=4K@0xd0000000:5"
        );
    }
}
