//! Virtio devices on the MMIO bus: the transport behind the bus trait,
//! and where each device's window and interrupt are.

use virtio::mmio::reg;
use virtio::status::DRIVER_OK;
use virtio::MmioTransport;

use super::bus::BusDevice;
use crate::arch::layout::MMIO_GAP_START;
use crate::arch::mptable::ISA_IRQS;

/// Size of one virtio-mmio window.
pub const WINDOW_SIZE: u64 = virtio::mmio::MMIO_WINDOW_SIZE;
/// The first IRQ for virtio devices; the ISA devices use those below.
pub const FIRST_IRQ: u32 = 5;
/// How many virtio devices fit: the MP table routes the ISA IRQs (0-15)
/// through the IOAPIC, so the last slot gets IRQ 15.
pub const MAX_SLOTS: u32 = ISA_IRQS as u32 - FIRST_IRQ;
/// The vsock device's slot.
pub const VSOCK_SLOT: u32 = 0;
/// The virtio-fs device's slot.
pub const FS_SLOT: u32 = 1;
/// The virtio-rng device's slot.
pub const RNG_SLOT: u32 = 2;
/// Network devices take the slots from here on.
pub const FIRST_NET_SLOT: u32 = 3;
/// How many network devices a VM may have.
pub const MAX_NET_DEVICES: u32 = MAX_SLOTS - FIRST_NET_SLOT;

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
        if offset == reg::STATUS && data.first().is_some_and(|s| u32::from(*s) & DRIVER_OK != 0) {
            crate::timing::mark("virtio device activated");
        }
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
    fn every_slot_has_a_routed_irq_and_a_window_in_the_gap() {
        assert_eq!(MAX_NET_DEVICES, 8);
        let (base, irq) = slot(MAX_SLOTS - 1);
        assert_eq!(irq, 15, "the last IRQ the MP table routes");
        assert!(base + WINDOW_SIZE <= u64::from(crate::arch::layout::IOAPIC_START));
    }

    #[test]
    fn announcement_is_what_virtio_mmio_parses() {
        assert_eq!(
            cmdline_announcement(0xd000_0000, 5),
            "virtio_mmio.device=4K@0xd0000000:5"
        );
    }
}
