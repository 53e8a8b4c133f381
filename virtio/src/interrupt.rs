//! The interrupt a virtio-mmio device raises: the InterruptStatus bits plus
//! the eventfd the VMM registers as an irqfd.

use std::sync::atomic::{AtomicU32, Ordering};

use vmm_sys_util::eventfd::{EventFd, EFD_CLOEXEC, EFD_NONBLOCK};

use crate::VirtioError;

/// InterruptStatus bit: the device used a buffer in at least one queue.
pub const VIRTIO_MMIO_INT_VRING: u32 = 0x01;
/// InterruptStatus bit: the device configuration changed.
pub const VIRTIO_MMIO_INT_CONFIG: u32 = 0x02;

/// The interrupt line of one virtio-mmio device, shared by the transport
/// (which reads and acknowledges the status) and the device (which raises it).
#[derive(Debug)]
pub struct Interrupt {
    status: AtomicU32,
    irq_evt: EventFd,
}

impl Interrupt {
    /// Creates an interrupt with a fresh non-blocking eventfd.
    pub fn new() -> Result<Self, VirtioError> {
        Ok(Self {
            status: AtomicU32::new(0),
            irq_evt: EventFd::new(EFD_NONBLOCK | EFD_CLOEXEC).map_err(VirtioError::EventFd)?,
        })
    }

    /// The eventfd to register as the device's irqfd.
    pub fn irq_evt(&self) -> &EventFd {
        &self.irq_evt
    }

    /// The current InterruptStatus register.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// Clears the InterruptStatus bits the driver acknowledged.
    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    /// Clears every InterruptStatus bit (device reset).
    pub fn clear(&self) {
        self.status.store(0, Ordering::SeqCst);
    }

    /// Tells the driver that the device used buffers.
    pub fn signal_used_queue(&self) -> std::io::Result<()> {
        self.signal(VIRTIO_MMIO_INT_VRING)
    }

    /// Tells the driver that the device configuration changed.
    pub fn signal_config_change(&self) -> std::io::Result<()> {
        self.signal(VIRTIO_MMIO_INT_CONFIG)
    }

    fn signal(&self, bit: u32) -> std::io::Result<()> {
        self.status.fetch_or(bit, Ordering::SeqCst);
        self.irq_evt.write(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_sets_bits_and_fires_eventfd() {
        let interrupt = Interrupt::new().unwrap();
        assert_eq!(interrupt.status(), 0);
        interrupt.signal_used_queue().unwrap();
        assert_eq!(interrupt.status(), VIRTIO_MMIO_INT_VRING);
        interrupt.signal_config_change().unwrap();
        assert_eq!(
            interrupt.status(),
            VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG
        );
        assert_eq!(interrupt.irq_evt().read().unwrap(), 2);
        interrupt.ack(VIRTIO_MMIO_INT_VRING);
        assert_eq!(interrupt.status(), VIRTIO_MMIO_INT_CONFIG);
        interrupt.clear();
        assert_eq!(interrupt.status(), 0);
    }
}
