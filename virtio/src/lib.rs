//! The virtio-mmio transport and devices (vsock, fs, net, rng) of the runvm VMM.
//!
//! A device implements [`VirtioDevice`]; the VMM puts it behind a
//! [`mmio::MmioTransport`], which speaks the virtio-mmio (version 2) register
//! protocol to the guest driver and activates the device once the driver is
//! ready. The device signals the guest through an [`Interrupt`].

mod activation;
pub mod fs;
pub mod interrupt;
pub mod mmio;
pub mod net;
pub mod rng;
pub mod vsock;

use vm_memory::GuestMemoryMmap;

pub use activation::ActiveState;
pub use interrupt::Interrupt;
pub use mmio::MmioTransport;

/// Guest memory as the devices see it (the VMM's memfd-backed RAM).
pub type GuestMemory = GuestMemoryMmap<()>;

/// Virtio device ids (virtio 1.2, section 5).
pub mod device_type {
    /// Network card.
    pub const NET: u32 = 1;
    /// Entropy source.
    pub const RNG: u32 = 4;
    /// Socket device.
    pub const VSOCK: u32 = 19;
    /// File system device.
    pub const FS: u32 = 26;
}

/// Device status bits (virtio 1.2, section 2.1).
pub mod status {
    /// The guest OS has found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest OS knows how to drive the device.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u32 = 4;
    /// The driver has acknowledged the features it understands.
    pub const FEATURES_OK: u32 = 8;
    /// The device has hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 128;
}

/// Feature bits shared by all devices (virtio 1.2, section 6).
pub mod features {
    /// Descriptors may refer to indirect descriptor tables.
    pub const VIRTIO_RING_F_INDIRECT_DESC: u32 = 28;
    /// The used_event / avail_event fields are in use.
    pub const VIRTIO_RING_F_EVENT_IDX: u32 = 29;
    /// The device complies with virtio 1.x (modern).
    pub const VIRTIO_F_VERSION_1: u32 = 32;
}

/// Errors of the virtio transport and of device activation.
#[derive(Debug, thiserror::Error)]
pub enum VirtioError {
    /// An eventfd could not be created or cloned.
    #[error("eventfd: {0}")]
    EventFd(#[source] std::io::Error),
    /// A device announced a queue size that is not a power of two up to 32768.
    #[error("invalid maximum queue size {0}")]
    InvalidMaxQueueSize(u16),
    /// The driver configured a queue that cannot be used.
    #[error("queue {0} is not valid")]
    InvalidQueue(usize),
    /// The device was activated with the wrong number of queues.
    #[error("expected {expected} queues, got {got}")]
    QueueCount {
        /// How many queues the device has.
        expected: usize,
        /// How many it was given.
        got: usize,
    },
    /// The device refused to activate.
    #[error("activation failed: {0}")]
    Activation(String),
}

/// A virtio device as the transport sees it.
///
/// The transport calls these from a vCPU thread while holding the device's
/// mutex, so none of them may block.
pub trait VirtioDevice: Send {
    /// The virtio device id (see [`device_type`]).
    fn device_type(&self) -> u32;

    /// The maximum size of each of the device's queues; its length is the
    /// number of queues. Each size must be a power of two.
    fn queue_max_sizes(&self) -> &[u16];

    /// The feature bits the device offers.
    fn avail_features(&self) -> u64;

    /// Reads `data.len()` bytes of the device config space from `offset`.
    /// Bytes past the end of the config space read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);

    /// Writes the device config space; devices with a read-only config space
    /// ignore it.
    fn write_config(&mut self, offset: u64, data: &[u8]);

    /// Starts the device: the driver has set up its queues and is ready.
    fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError>;

    /// Stops the device and drops everything the driver configured, so that
    /// it can be activated again.
    fn reset(&mut self);
}

/// Fills `data` from the read-only config space `config` at `offset`;
/// bytes past its end (or past `u64`/`usize`) read as zero.
pub fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = u64::try_from(i)
            .ok()
            .and_then(|i| offset.checked_add(i))
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| config.get(o))
            .copied()
            .unwrap_or(0);
    }
}
