//! The virtio-mmio transport, modern interface (version 2, virtio 1.x).
//!
//! The VMM maps one [`MmioTransport`] per device on its MMIO bus (4 KiB),
//! forwards guest accesses to [`MmioTransport::read`] / [`MmioTransport::write`],
//! registers each of [`MmioTransport::queue_evts`] as an ioeventfd at
//! `base + QUEUE_NOTIFY_OFFSET` with the queue index as datamatch, and
//! registers [`Interrupt::irq_evt`] of [`MmioTransport::interrupt`] as the
//! device's irqfd.
//!
//! The guest is not trusted: a driver that breaks the protocol gets a device
//! in FAILED or DEVICE_NEEDS_RESET state, never a host panic.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::warn;
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddress, GuestMemory as _};
use vmm_sys_util::eventfd::{EventFd, EFD_CLOEXEC, EFD_NONBLOCK};

use crate::features::{VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX};
use crate::status::{ACKNOWLEDGE, DEVICE_NEEDS_RESET, DRIVER, DRIVER_OK, FAILED, FEATURES_OK};
use crate::{ActiveState, GuestMemory, Interrupt, VirtioDevice, VirtioError};

/// Size of one device's MMIO window.
pub const MMIO_WINDOW_SIZE: u64 = 0x1000;
/// "virt" in little endian.
pub const MMIO_MAGIC_VALUE: u32 = 0x7472_6976;
/// The modern virtio-mmio interface.
pub const MMIO_VERSION: u32 = 2;
/// Our vendor id.
pub const MMIO_VENDOR_ID: u32 = 0;

/// Register offsets (virtio 1.2, section 4.2.2).
pub mod reg {
    /// MagicValue (R).
    pub const MAGIC_VALUE: u64 = 0x000;
    /// Version (R).
    pub const VERSION: u64 = 0x004;
    /// DeviceID (R).
    pub const DEVICE_ID: u64 = 0x008;
    /// VendorID (R).
    pub const VENDOR_ID: u64 = 0x00c;
    /// DeviceFeatures (R).
    pub const DEVICE_FEATURES: u64 = 0x010;
    /// DeviceFeaturesSel (W).
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    /// DriverFeatures (W).
    pub const DRIVER_FEATURES: u64 = 0x020;
    /// DriverFeaturesSel (W).
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    /// QueueSel (W).
    pub const QUEUE_SEL: u64 = 0x030;
    /// QueueNumMax (R).
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    /// QueueNum (W).
    pub const QUEUE_NUM: u64 = 0x038;
    /// QueueReady (RW).
    pub const QUEUE_READY: u64 = 0x044;
    /// QueueNotify (W).
    pub const QUEUE_NOTIFY: u64 = 0x050;
    /// InterruptStatus (R).
    pub const INTERRUPT_STATUS: u64 = 0x060;
    /// InterruptACK (W).
    pub const INTERRUPT_ACK: u64 = 0x064;
    /// Status (RW).
    pub const STATUS: u64 = 0x070;
    /// QueueDescLow (W).
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    /// QueueDescHigh (W).
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    /// QueueDriverLow (W): the available ring.
    pub const QUEUE_AVAIL_LOW: u64 = 0x090;
    /// QueueDriverHigh (W).
    pub const QUEUE_AVAIL_HIGH: u64 = 0x094;
    /// QueueDeviceLow (W): the used ring.
    pub const QUEUE_USED_LOW: u64 = 0x0a0;
    /// QueueDeviceHigh (W).
    pub const QUEUE_USED_HIGH: u64 = 0x0a4;
    /// SHMSel (W): selects a shared memory region.
    pub const SHM_SEL: u64 = 0x0ac;
    /// SHMLenLow (R).
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    /// SHMLenHigh (R).
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    /// SHMBaseLow (R).
    pub const SHM_BASE_LOW: u64 = 0x0b8;
    /// SHMBaseHigh (R).
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    /// ConfigGeneration (R).
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// Start of the device-specific config space.
    pub const CONFIG_SPACE: u64 = 0x100;
}

/// Where the VMM registers the queue ioeventfds (`base + QUEUE_NOTIFY_OFFSET`).
pub const QUEUE_NOTIFY_OFFSET: u64 = reg::QUEUE_NOTIFY;

/// What the driver wrote about one queue; turned into a [`Queue`] when the
/// driver sets DRIVER_OK.
#[derive(Debug, Clone, Copy)]
struct QueueConfig {
    max_size: u16,
    size: u16,
    ready: bool,
    desc_table: u64,
    avail_ring: u64,
    used_ring: u64,
}

impl QueueConfig {
    fn new(max_size: u16) -> Self {
        Self {
            max_size,
            size: max_size,
            ready: false,
            desc_table: 0,
            avail_ring: 0,
            used_ring: 0,
        }
    }

    /// Builds the queue, checking that its rings lie in guest memory.
    fn build(&self, mem: &GuestMemory, event_idx: bool) -> Result<Queue, virtio_queue::Error> {
        let mut queue = Queue::new(self.max_size)?;
        if !self.ready {
            return Ok(queue);
        }
        queue.try_set_size(self.size)?;
        queue.try_set_desc_table_address(GuestAddress(self.desc_table))?;
        queue.try_set_avail_ring_address(GuestAddress(self.avail_ring))?;
        queue.try_set_used_ring_address(GuestAddress(self.used_ring))?;
        let size = u64::from(self.size);
        // Sizes from the virtio spec: descriptors are 16 bytes, the avail ring
        // has 6 bytes of flags/idx/used_event plus 2 per entry, the used ring 6
        // plus 8 per entry. `size` is at most 32768, so none of these overflow.
        let rings = [
            (self.desc_table, 16 * size),
            (self.avail_ring, 6 + 2 * size),
            (self.used_ring, 6 + 8 * size),
        ];
        for (addr, len) in rings {
            let len = usize::try_from(len).map_err(|_| virtio_queue::Error::AddressOverflow)?;
            if !mem.check_range(GuestAddress(addr), len) {
                return Err(virtio_queue::Error::AddressOverflow);
            }
        }
        queue.set_event_idx(event_idx);
        queue.set_ready(true);
        Ok(queue)
    }
}

/// Replaces the low or high 32 bits of `value`.
fn set_half(value: &mut u64, half: u32, high: bool) {
    if high {
        *value = (*value & 0xffff_ffff) | (u64::from(half) << 32);
    } else {
        *value = (*value & !0xffff_ffff) | u64::from(half);
    }
}

/// One virtio device behind a virtio-mmio register window.
pub struct MmioTransport {
    mem: GuestMemory,
    device: Arc<Mutex<dyn VirtioDevice>>,
    interrupt: Arc<Interrupt>,
    queue_evts: Vec<EventFd>,
    queues: Vec<QueueConfig>,
    device_type: u32,
    avail_features: u64,
    acked_features: u64,
    device_features_sel: u32,
    driver_features_sel: u32,
    queue_sel: u32,
    status: u32,
    config_generation: u32,
    activated: bool,
    protocol_error_logged: bool,
}

impl std::fmt::Debug for MmioTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmioTransport")
            .field("device_type", &self.device_type)
            .field("status", &self.status)
            .field("activated", &self.activated)
            .finish_non_exhaustive()
    }
}

impl MmioTransport {
    /// Puts `device` behind a new virtio-mmio window.
    pub fn new(
        mem: GuestMemory,
        device: Arc<Mutex<dyn VirtioDevice>>,
    ) -> Result<Self, VirtioError> {
        let (device_type, avail_features, max_sizes) = {
            let dev = device.lock().unwrap_or_else(PoisonError::into_inner);
            (
                dev.device_type(),
                dev.avail_features(),
                dev.queue_max_sizes().to_vec(),
            )
        };
        let mut queues = Vec::with_capacity(max_sizes.len());
        let mut queue_evts = Vec::with_capacity(max_sizes.len());
        for max_size in max_sizes {
            // Reject what `Queue::new` would reject, now rather than at activation.
            Queue::new(max_size).map_err(|_| VirtioError::InvalidMaxQueueSize(max_size))?;
            queues.push(QueueConfig::new(max_size));
            queue_evts
                .push(EventFd::new(EFD_NONBLOCK | EFD_CLOEXEC).map_err(VirtioError::EventFd)?);
        }
        Ok(Self {
            mem,
            device,
            interrupt: Arc::new(Interrupt::new()?),
            queue_evts,
            queues,
            device_type,
            avail_features,
            acked_features: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            queue_sel: 0,
            status: 0,
            config_generation: 0,
            activated: false,
            protocol_error_logged: false,
        })
    }

    /// One eventfd per queue, signalled when the driver writes the queue's
    /// index to QueueNotify. Register each as an ioeventfd at
    /// `base + QUEUE_NOTIFY_OFFSET` with datamatch = its index.
    pub fn queue_evts(&self) -> &[EventFd] {
        &self.queue_evts
    }

    /// The device's interrupt; register its [`Interrupt::irq_evt`] as an irqfd.
    pub fn interrupt(&self) -> &Arc<Interrupt> {
        &self.interrupt
    }

    /// The device behind this transport.
    pub fn device(&self) -> &Arc<Mutex<dyn VirtioDevice>> {
        &self.device
    }

    /// The Status register.
    pub fn status(&self) -> u32 {
        self.status
    }

    fn lock_device(&self) -> MutexGuard<'_, dyn VirtioDevice + 'static> {
        self.device.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles a guest read of `data.len()` bytes at `offset` in the window.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) {
        data.fill(0);
        if offset >= reg::CONFIG_SPACE {
            if let Some(config_offset) = offset.checked_sub(reg::CONFIG_SPACE) {
                self.lock_device().read_config(config_offset, data);
            }
            return;
        }
        if data.len() != 4 {
            return;
        }
        let value = match offset {
            reg::MAGIC_VALUE => MMIO_MAGIC_VALUE,
            reg::VERSION => MMIO_VERSION,
            reg::DEVICE_ID => self.device_type,
            reg::VENDOR_ID => MMIO_VENDOR_ID,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => (self.avail_features & 0xffff_ffff) as u32,
                1 => (self.avail_features >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => self.selected_queue().map_or(0, |q| u32::from(q.max_size)),
            reg::QUEUE_READY => self.selected_queue().map_or(0, |q| u32::from(q.ready)),
            reg::INTERRUPT_STATUS => self.interrupt.status(),
            reg::STATUS => self.status,
            // No shared memory regions: a length of all ones says so.
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH | reg::SHM_BASE_LOW | reg::SHM_BASE_HIGH => {
                u32::MAX
            }
            reg::CONFIG_GENERATION => self.config_generation,
            _ => 0,
        };
        data.copy_from_slice(&value.to_le_bytes());
    }

    /// Handles a guest write of `data` at `offset` in the window.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= reg::CONFIG_SPACE {
            if let Some(config_offset) = offset.checked_sub(reg::CONFIG_SPACE) {
                if self.status & (FAILED | DEVICE_NEEDS_RESET) == 0 {
                    self.lock_device().write_config(config_offset, data);
                    self.config_generation = self.config_generation.wrapping_add(1);
                }
            }
            return;
        }
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return;
        };
        let value = u32::from_le_bytes(bytes);
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES => self.write_driver_features(value),
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NUM
            | reg::QUEUE_READY
            | reg::QUEUE_DESC_LOW
            | reg::QUEUE_DESC_HIGH
            | reg::QUEUE_AVAIL_LOW
            | reg::QUEUE_AVAIL_HIGH
            | reg::QUEUE_USED_LOW
            | reg::QUEUE_USED_HIGH => self.write_queue_config(offset, value),
            reg::QUEUE_NOTIFY => self.notify_queue(value),
            reg::INTERRUPT_ACK => self.interrupt.ack(value),
            reg::STATUS => self.write_status(value),
            _ => {}
        }
    }

    fn selected_queue(&self) -> Option<&QueueConfig> {
        usize::try_from(self.queue_sel)
            .ok()
            .and_then(|i| self.queues.get(i))
    }

    /// Logs the first protocol violation of this device; later ones are silent
    /// so that a hostile guest cannot flood the log.
    fn protocol_error(&mut self, what: &str) {
        if !self.protocol_error_logged {
            self.protocol_error_logged = true;
            warn!(
                device_type = self.device_type,
                status = self.status,
                "virtio-mmio: {what} (further driver errors are not logged)"
            );
        }
    }

    /// The driver broke the protocol before DRIVER_OK: the device fails.
    fn fail(&mut self, what: &str) {
        self.protocol_error(what);
        self.status |= FAILED;
    }

    /// The device can no longer run: tell the driver it needs a reset.
    fn needs_reset(&mut self, what: &str) {
        self.protocol_error(what);
        if self.status & DEVICE_NEEDS_RESET == 0 {
            self.status |= DEVICE_NEEDS_RESET;
            if self.status & DRIVER_OK != 0 {
                // The driver learns about DEVICE_NEEDS_RESET through a config
                // change interrupt; an eventfd write cannot fail in practice.
                let _ = self.interrupt.signal_config_change();
            }
        }
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.status != ACKNOWLEDGE | DRIVER {
            self.fail("driver features written outside feature negotiation");
            return;
        }
        match self.driver_features_sel {
            0 => set_half(&mut self.acked_features, value, false),
            1 => set_half(&mut self.acked_features, value, true),
            // Feature bits past 63: we offer none, so the driver may ack none.
            _ if value != 0 => self.fail("driver acked an unknown feature"),
            _ => {}
        }
    }

    fn write_queue_config(&mut self, offset: u64, value: u32) {
        if self.status & DRIVER_OK != 0 {
            self.needs_reset("queue configured after DRIVER_OK");
            return;
        }
        if self.status != ACKNOWLEDGE | DRIVER | FEATURES_OK {
            self.fail("queue configured before FEATURES_OK");
            return;
        }
        let Some(queue) = usize::try_from(self.queue_sel)
            .ok()
            .and_then(|i| self.queues.get_mut(i))
        else {
            self.fail("configured a queue that does not exist");
            return;
        };
        match offset {
            // An out-of-range size is kept as 0 and refused at activation.
            reg::QUEUE_NUM => queue.size = u16::try_from(value).unwrap_or(0),
            reg::QUEUE_READY => queue.ready = value == 1,
            reg::QUEUE_DESC_LOW => set_half(&mut queue.desc_table, value, false),
            reg::QUEUE_DESC_HIGH => set_half(&mut queue.desc_table, value, true),
            reg::QUEUE_AVAIL_LOW => set_half(&mut queue.avail_ring, value, false),
            reg::QUEUE_AVAIL_HIGH => set_half(&mut queue.avail_ring, value, true),
            reg::QUEUE_USED_LOW => set_half(&mut queue.used_ring, value, false),
            reg::QUEUE_USED_HIGH => set_half(&mut queue.used_ring, value, true),
            _ => {}
        }
    }

    fn notify_queue(&mut self, value: u32) {
        if !self.activated {
            return;
        }
        let Some(evt) = usize::try_from(value)
            .ok()
            .and_then(|i| self.queue_evts.get(i))
        else {
            self.protocol_error("notified a queue that does not exist");
            return;
        };
        // Only fails if the counter would overflow, which leaves it signalled.
        let _ = evt.write(1);
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            self.reset();
            return;
        }
        if value & FAILED != 0 {
            // The driver gives up; the device stays as it is until reset.
            self.status |= FAILED;
            return;
        }
        if self.status & (FAILED | DEVICE_NEEDS_RESET) != 0 {
            // Only a reset gets the device out of these.
            return;
        }
        if value == self.status {
            return;
        }
        let next = match self.status {
            0 => ACKNOWLEDGE,
            s if s == ACKNOWLEDGE => ACKNOWLEDGE | DRIVER,
            s if s == ACKNOWLEDGE | DRIVER => ACKNOWLEDGE | DRIVER | FEATURES_OK,
            s if s == ACKNOWLEDGE | DRIVER | FEATURES_OK => {
                ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
            }
            _ => 0,
        };
        if value != next {
            self.fail("invalid device status transition");
            return;
        }
        match value & !self.status {
            FEATURES_OK => {
                let version_1 = 1u64 << VIRTIO_F_VERSION_1;
                if self.acked_features & !self.avail_features != 0
                    || self.acked_features & version_1 == 0
                {
                    // Leave FEATURES_OK clear: the driver reads it back and
                    // gives up (virtio 1.2, section 3.1.1).
                    self.protocol_error("driver acked features the device does not offer");
                    return;
                }
                self.status = value;
            }
            DRIVER_OK => {
                self.status = value;
                self.activate();
            }
            _ => self.status = value,
        }
    }

    fn activate(&mut self) {
        let event_idx = self.acked_features & (1u64 << VIRTIO_RING_F_EVENT_IDX) != 0;
        let mut queues = Vec::with_capacity(self.queues.len());
        for (index, config) in self.queues.iter().enumerate() {
            match config.build(&self.mem, event_idx) {
                Ok(queue) => queues.push(queue),
                Err(_) => {
                    self.needs_reset(&VirtioError::InvalidQueue(index).to_string());
                    return;
                }
            }
        }
        let mut queue_evts = Vec::with_capacity(self.queue_evts.len());
        for evt in &self.queue_evts {
            match evt.try_clone() {
                Ok(evt) => queue_evts.push(evt),
                Err(_) => {
                    self.needs_reset("could not clone a queue eventfd");
                    return;
                }
            }
        }
        let result = self.lock_device().activate(ActiveState {
            mem: self.mem.clone(),
            interrupt: self.interrupt.clone(),
            queues,
            queue_evts,
            acked_features: self.acked_features,
        });
        match result {
            Ok(()) => self.activated = true,
            Err(e) => self.needs_reset(&e.to_string()),
        }
    }

    fn reset(&mut self) {
        if self.activated {
            self.lock_device().reset();
            self.activated = false;
        }
        for queue in &mut self.queues {
            *queue = QueueConfig::new(queue.max_size);
        }
        self.interrupt.clear();
        self.acked_features = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.queue_sel = 0;
        self.status = 0;
    }
}

/// Register access as a test driver makes it: whole 32-bit registers.
#[cfg(test)]
impl MmioTransport {
    pub(crate) fn write_reg(&mut self, offset: u64, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }

    pub(crate) fn read_reg(&mut self, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        self.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// Sets up queue `index` with `size` entries (QueueNum, whatever its
    /// value) and its rings at `(desc, avail, used)`, and marks it ready.
    pub(crate) fn set_up_queue(&mut self, index: u32, size: u32, rings: (u64, u64, u64)) {
        let (desc, avail, used) = rings;
        self.write_reg(reg::QUEUE_SEL, index);
        self.write_reg(reg::QUEUE_NUM, size);
        for (low, high, addr) in [
            (reg::QUEUE_DESC_LOW, reg::QUEUE_DESC_HIGH, desc),
            (reg::QUEUE_AVAIL_LOW, reg::QUEUE_AVAIL_HIGH, avail),
            (reg::QUEUE_USED_LOW, reg::QUEUE_USED_HIGH, used),
        ] {
            self.write_reg(low, (addr & 0xffff_ffff) as u32);
            self.write_reg(high, (addr >> 32) as u32);
        }
        self.write_reg(reg::QUEUE_READY, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use vm_memory::GuestAddress;

    /// A device that records what the transport does to it.
    struct RecordingDevice {
        max_sizes: Vec<u16>,
        config: [u8; 8],
        fail_activation: bool,
        activations: usize,
        resets: usize,
        queues: Vec<Queue>,
        queue_evts: Vec<EventFd>,
        interrupt: Option<Arc<Interrupt>>,
    }

    impl RecordingDevice {
        fn new() -> Self {
            Self {
                max_sizes: vec![16, 8],
                config: [1, 2, 3, 4, 5, 6, 7, 8],
                fail_activation: false,
                activations: 0,
                resets: 0,
                queues: Vec::new(),
                queue_evts: Vec::new(),
                interrupt: None,
            }
        }
    }

    impl VirtioDevice for RecordingDevice {
        fn device_type(&self) -> u32 {
            crate::device_type::RNG
        }
        fn queue_max_sizes(&self) -> &[u16] {
            &self.max_sizes
        }
        fn avail_features(&self) -> u64 {
            (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_RING_F_EVENT_IDX) | 0b101
        }
        fn read_config(&self, offset: u64, data: &mut [u8]) {
            for (i, byte) in data.iter_mut().enumerate() {
                let index = offset
                    .checked_add(i as u64)
                    .and_then(|o| usize::try_from(o).ok());
                *byte = index.and_then(|o| self.config.get(o)).copied().unwrap_or(0);
            }
        }
        fn write_config(&mut self, offset: u64, data: &[u8]) {
            if let Ok(offset) = usize::try_from(offset) {
                for (i, byte) in data.iter().enumerate() {
                    if let Some(slot) = offset.checked_add(i).and_then(|o| self.config.get_mut(o)) {
                        *slot = *byte;
                    }
                }
            }
        }
        fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError> {
            if self.fail_activation {
                return Err(VirtioError::Activation("refused".into()));
            }
            self.activations += 1;
            self.queues = active.queues;
            self.queue_evts = active.queue_evts;
            self.interrupt = Some(active.interrupt);
            Ok(())
        }
        fn reset(&mut self) {
            self.resets += 1;
            self.queues.clear();
            self.queue_evts.clear();
        }
    }

    fn mem() -> GuestMemory {
        GuestMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()
    }

    fn setup() -> (MmioTransport, Arc<Mutex<RecordingDevice>>) {
        let device = Arc::new(Mutex::new(RecordingDevice::new()));
        let transport = MmioTransport::new(mem(), device.clone()).unwrap();
        (transport, device)
    }

    fn negotiate(t: &mut MmioTransport) {
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        t.write_reg(reg::DRIVER_FEATURES_SEL, 1);
        t.write_reg(reg::DRIVER_FEATURES, 1); // VERSION_1
        t.write_reg(reg::DRIVER_FEATURES_SEL, 0);
        t.write_reg(reg::DRIVER_FEATURES, 0b100);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_eq!(t.read_reg(reg::STATUS), ACKNOWLEDGE | DRIVER | FEATURES_OK);
    }

    fn setup_queue(t: &mut MmioTransport, index: u32, size: u32, base: u64) {
        t.set_up_queue(index, size, (base, base + 0x1000, base + 0x2000));
        assert_eq!(t.read_reg(reg::QUEUE_READY), 1);
    }

    fn bring_up(t: &mut MmioTransport) {
        negotiate(t);
        setup_queue(t, 0, 16, 0x1_0000);
        setup_queue(t, 1, 8, 0x2_0000);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    }

    #[test]
    fn identification_registers() {
        let (mut t, _) = setup();
        assert_eq!(t.read_reg(reg::MAGIC_VALUE), MMIO_MAGIC_VALUE);
        assert_eq!(t.read_reg(reg::VERSION), 2);
        assert_eq!(t.read_reg(reg::DEVICE_ID), crate::device_type::RNG);
        assert_eq!(t.read_reg(reg::VENDOR_ID), MMIO_VENDOR_ID);
        assert_eq!(t.read_reg(reg::STATUS), 0);
        assert_eq!(t.read_reg(reg::CONFIG_GENERATION), 0);
        t.write_reg(reg::SHM_SEL, 0);
        assert_eq!(t.read_reg(reg::SHM_LEN_LOW), u32::MAX);
        assert_eq!(t.read_reg(reg::SHM_LEN_HIGH), u32::MAX);
    }

    #[test]
    fn feature_windows() {
        let (mut t, _) = setup();
        t.write_reg(reg::DEVICE_FEATURES_SEL, 0);
        assert_eq!(
            t.read_reg(reg::DEVICE_FEATURES),
            (1 << VIRTIO_RING_F_EVENT_IDX) | 0b101
        );
        t.write_reg(reg::DEVICE_FEATURES_SEL, 1);
        assert_eq!(t.read_reg(reg::DEVICE_FEATURES), 1);
        t.write_reg(reg::DEVICE_FEATURES_SEL, 2);
        assert_eq!(t.read_reg(reg::DEVICE_FEATURES), 0);
    }

    #[test]
    fn full_bring_up_activates_the_device() {
        let (mut t, device) = setup();
        bring_up(&mut t);
        assert_eq!(
            t.read_reg(reg::STATUS),
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
        );
        let dev = device.lock().unwrap();
        assert_eq!(dev.activations, 1);
        assert_eq!(dev.queues.len(), 2);
        assert!(dev.queues.iter().all(|q| q.ready()));
        assert_eq!(dev.queues[0].size(), 16);
        assert_eq!(dev.queues[0].desc_table(), 0x1_0000);
        assert_eq!(dev.queues[0].avail_ring(), 0x1_1000);
        assert_eq!(dev.queues[0].used_ring(), 0x1_2000);
        assert_eq!(dev.queues[1].size(), 8);
        assert!(!dev.queues[0].event_idx_enabled());
    }

    #[test]
    fn queue_num_max_and_invalid_selection() {
        let (mut t, _) = setup();
        t.write_reg(reg::QUEUE_SEL, 1);
        assert_eq!(t.read_reg(reg::QUEUE_NUM_MAX), 8);
        t.write_reg(reg::QUEUE_SEL, 7);
        assert_eq!(t.read_reg(reg::QUEUE_NUM_MAX), 0);
        assert_eq!(t.read_reg(reg::QUEUE_READY), 0);
    }

    #[test]
    fn notify_and_interrupt_ack() {
        let (mut t, device) = setup();
        bring_up(&mut t);
        t.write_reg(reg::QUEUE_NOTIFY, 1);
        assert_eq!(device.lock().unwrap().queue_evts[1].read().unwrap(), 1);
        // A notification for a queue that does not exist is ignored.
        t.write_reg(reg::QUEUE_NOTIFY, 9);

        let interrupt = device.lock().unwrap().interrupt.clone().unwrap();
        interrupt.signal_used_queue().unwrap();
        assert_eq!(t.read_reg(reg::INTERRUPT_STATUS), 1);
        t.write_reg(reg::INTERRUPT_ACK, 1);
        assert_eq!(t.read_reg(reg::INTERRUPT_STATUS), 0);
    }

    #[test]
    fn config_space_is_delegated() {
        let (mut t, device) = setup();
        let mut data = [0u8; 2];
        t.read(reg::CONFIG_SPACE + 2, &mut data);
        assert_eq!(data, [3, 4]);
        let mut data = [0u8; 8];
        t.read(reg::CONFIG_SPACE, &mut data);
        assert_eq!(data, [1, 2, 3, 4, 5, 6, 7, 8]);
        t.write(reg::CONFIG_SPACE + 7, &[0xaa]);
        assert_eq!(device.lock().unwrap().config[7], 0xaa);
        assert_eq!(t.read_reg(reg::CONFIG_GENERATION), 1);
        // Past the end reads as zero.
        let mut data = [0xffu8; 4];
        t.read(reg::CONFIG_SPACE + 6, &mut data);
        assert_eq!(data, [7, 0xaa, 0, 0]);
    }

    #[test]
    fn reset_returns_to_initial_state() {
        let (mut t, device) = setup();
        bring_up(&mut t);
        t.write_reg(reg::STATUS, 0);
        assert_eq!(t.read_reg(reg::STATUS), 0);
        assert_eq!(device.lock().unwrap().resets, 1);
        t.write_reg(reg::QUEUE_SEL, 0);
        assert_eq!(t.read_reg(reg::QUEUE_READY), 0);
        // And it can be brought up again.
        bring_up(&mut t);
        assert_eq!(device.lock().unwrap().activations, 2);
    }

    #[test]
    fn features_the_device_does_not_offer_are_refused() {
        let (mut t, device) = setup();
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        t.write_reg(reg::DRIVER_FEATURES_SEL, 1);
        t.write_reg(reg::DRIVER_FEATURES, 1 | 0x100);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_eq!(t.read_reg(reg::STATUS), ACKNOWLEDGE | DRIVER);
        // The driver gives up.
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FAILED);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_eq!(t.read_reg(reg::STATUS) & DRIVER_OK, 0);
        assert_eq!(device.lock().unwrap().activations, 0);
    }

    #[test]
    fn legacy_driver_without_version_1_is_refused() {
        let (mut t, _) = setup();
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        t.write_reg(reg::DRIVER_FEATURES, 0b1);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_eq!(t.read_reg(reg::STATUS) & FEATURES_OK, 0);
    }

    #[test]
    fn bad_transitions_fail_the_device() {
        for bad in [DRIVER, DRIVER_OK, ACKNOWLEDGE | DRIVER_OK, FEATURES_OK] {
            let (mut t, device) = setup();
            t.write_reg(reg::STATUS, bad);
            assert_ne!(t.read_reg(reg::STATUS) & FAILED, 0, "status {bad:#x}");
            // Nothing but a reset gets it out of FAILED.
            for status in [
                ACKNOWLEDGE,
                ACKNOWLEDGE | DRIVER,
                ACKNOWLEDGE | DRIVER | FEATURES_OK,
            ] {
                t.write_reg(reg::STATUS, status);
                assert_ne!(t.read_reg(reg::STATUS) & FAILED, 0);
            }
            assert_eq!(device.lock().unwrap().activations, 0);
            t.write_reg(reg::STATUS, 0);
            bring_up(&mut t);
            assert_eq!(device.lock().unwrap().activations, 1);
        }
        // Skipping FEATURES_OK.
        let (mut t, _) = setup();
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | DRIVER_OK);
        assert_ne!(t.read_reg(reg::STATUS) & FAILED, 0);
    }

    #[test]
    fn queue_setup_before_features_ok_fails() {
        let (mut t, _) = setup();
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::QUEUE_NUM, 8);
        assert_ne!(t.read_reg(reg::STATUS) & FAILED, 0);
    }

    #[test]
    fn queue_config_after_driver_ok_needs_reset() {
        let (mut t, device) = setup();
        bring_up(&mut t);
        let interrupt = device.lock().unwrap().interrupt.clone().unwrap();
        t.write_reg(reg::QUEUE_DESC_LOW, 0x5000);
        assert_ne!(t.read_reg(reg::STATUS) & DEVICE_NEEDS_RESET, 0);
        assert_ne!(
            interrupt.status() & crate::interrupt::VIRTIO_MMIO_INT_CONFIG,
            0
        );
        // The queue the device got is unchanged.
        assert_eq!(device.lock().unwrap().queues[1].desc_table(), 0x2_0000);
    }

    #[test]
    fn invalid_queue_at_activation_needs_reset() {
        // Size not a power of two, size above max, rings outside memory,
        // misaligned descriptor table.
        let cases: [(u32, u64); 4] = [
            (12, 0x1_0000),
            (32, 0x1_0000),
            (16, 0xff_f000),
            (16, 0x1_0008),
        ];
        for (size, base) in cases {
            let (mut t, device) = setup();
            negotiate(&mut t);
            setup_queue(&mut t, 0, size, base);
            setup_queue(&mut t, 1, 8, 0x2_0000);
            t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
            let status = t.read_reg(reg::STATUS);
            assert_ne!(status & DEVICE_NEEDS_RESET, 0, "size {size} base {base:#x}");
            assert_eq!(device.lock().unwrap().activations, 0);
        }
    }

    #[test]
    fn queue_size_above_u16_is_refused() {
        let (mut t, device) = setup();
        negotiate(&mut t);
        setup_queue(&mut t, 0, 0x1_0010, 0x1_0000);
        setup_queue(&mut t, 1, 8, 0x2_0000);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_ne!(t.read_reg(reg::STATUS) & DEVICE_NEEDS_RESET, 0);
        assert_eq!(device.lock().unwrap().activations, 0);
    }

    #[test]
    fn failed_activation_needs_reset() {
        let (mut t, device) = setup();
        device.lock().unwrap().fail_activation = true;
        bring_up(&mut t);
        assert_ne!(t.read_reg(reg::STATUS) & DEVICE_NEEDS_RESET, 0);
        // Reset clears it.
        t.write_reg(reg::STATUS, 0);
        assert_eq!(t.read_reg(reg::STATUS), 0);
        // The device was never activated, so it is not reset either.
        assert_eq!(device.lock().unwrap().resets, 0);
    }

    #[test]
    fn a_queue_left_disabled_is_passed_not_ready() {
        let (mut t, device) = setup();
        negotiate(&mut t);
        setup_queue(&mut t, 0, 16, 0x1_0000);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let dev = device.lock().unwrap();
        assert_eq!(dev.activations, 1);
        assert!(dev.queues[0].ready());
        assert!(!dev.queues[1].ready());
    }

    #[test]
    fn odd_sizes_and_unknown_offsets_are_ignored() {
        let (mut t, _) = setup();
        let mut two = [0xffu8; 2];
        t.read(reg::MAGIC_VALUE, &mut two);
        assert_eq!(two, [0, 0]);
        let mut eight = [0xffu8; 8];
        t.read(reg::MAGIC_VALUE, &mut eight);
        assert_eq!(eight, [0; 8]);
        assert_eq!(t.read_reg(0x0f0), 0);
        assert_eq!(t.read_reg(0x001), 0);
        t.write(reg::STATUS, &[1]);
        t.write(reg::STATUS, &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(t.read_reg(reg::STATUS), 0);
    }

    #[test]
    fn garbage_at_every_offset_and_size_never_panics() {
        let (mut t, _) = setup();
        let patterns: [u8; 4] = [0x00, 0x01, 0x55, 0xff];
        for round in 0..2 {
            for offset in (0..0x120u64).chain([0xfff, 0x1000, u64::MAX - 3, u64::MAX]) {
                for size in [0usize, 1, 2, 3, 4, 8] {
                    for pattern in patterns {
                        let data = vec![pattern; size];
                        t.write(offset, &data);
                        let mut out = vec![0u8; size];
                        t.read(offset, &mut out);
                    }
                }
            }
            // Then from a live device.
            if round == 0 {
                t.write_reg(reg::STATUS, 0);
                bring_up(&mut t);
            }
        }
    }

    #[test]
    fn event_idx_is_passed_to_queues() {
        let (mut t, device) = setup();
        t.write_reg(reg::STATUS, ACKNOWLEDGE);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        t.write_reg(reg::DRIVER_FEATURES_SEL, 1);
        t.write_reg(reg::DRIVER_FEATURES, 1);
        t.write_reg(reg::DRIVER_FEATURES_SEL, 0);
        t.write_reg(reg::DRIVER_FEATURES, 1 << VIRTIO_RING_F_EVENT_IDX);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        setup_queue(&mut t, 0, 16, 0x1_0000);
        setup_queue(&mut t, 1, 8, 0x2_0000);
        t.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert!(device.lock().unwrap().queues[0].event_idx_enabled());
    }

    #[test]
    fn transport_can_move_to_a_vcpu_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<MmioTransport>();
        assert_send::<Arc<Interrupt>>();
    }

    #[test]
    fn invalid_max_queue_size_is_refused() {
        let mut dev = RecordingDevice::new();
        dev.max_sizes = vec![12];
        let device: Arc<Mutex<dyn VirtioDevice>> = Arc::new(Mutex::new(dev));
        assert!(matches!(
            MmioTransport::new(mem(), device),
            Err(VirtioError::InvalidMaxQueueSize(12))
        ));
    }
}
