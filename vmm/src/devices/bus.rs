//! An address-range bus: port I/O now, MMIO for virtio devices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A device that answers reads and writes at offsets into its range.
pub trait BusDevice: Send {
    /// Fills `data` from the register at `offset`.
    fn read(&mut self, offset: u64, data: &mut [u8]);
    /// Writes `data` to the register at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// Why a device could not be added to a bus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusError {
    #[error("device range {base:#x}+{len:#x} is empty or overlaps another device")]
    Overlap { base: u64, len: u64 },
}

struct Slot {
    len: u64,
    device: Arc<Mutex<dyn BusDevice>>,
}

/// Devices by base address; ranges never overlap.
#[derive(Default)]
pub struct Bus {
    slots: BTreeMap<u64, Slot>,
}

impl Bus {
    /// Adds `device` at `[base, base + len)`.
    pub fn insert(
        &mut self,
        base: u64,
        len: u64,
        device: Arc<Mutex<dyn BusDevice>>,
    ) -> Result<(), BusError> {
        let overlap = Err(BusError::Overlap { base, len });
        let Some(end) = base.checked_add(len).filter(|_| len > 0) else {
            return overlap;
        };
        if let Some((prev_base, prev)) = self.slots.range(..end).next_back() {
            if prev_base + prev.len > base {
                return overlap;
            }
        }
        self.slots.insert(base, Slot { len, device });
        Ok(())
    }

    fn find(&self, addr: u64) -> Option<(u64, &Slot)> {
        let (base, slot) = self.slots.range(..=addr).next_back()?;
        let offset = addr - base;
        (offset < slot.len).then_some((offset, slot))
    }

    /// Reads from the device at `addr`; false if there is none.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let Some((offset, slot)) = self.find(addr) else {
            return false;
        };
        // A poisoned lock means a device thread panicked; the device state
        // is still the best answer we have.
        let mut device = slot.device.lock().unwrap_or_else(|e| e.into_inner());
        device.read(offset, data);
        true
    }

    /// Writes to the device at `addr`; false if there is none.
    pub fn write(&self, addr: u64, data: &[u8]) -> bool {
        let Some((offset, slot)) = self.find(addr) else {
            return false;
        };
        let mut device = slot.device.lock().unwrap_or_else(|e| e.into_inner());
        device.write(offset, data);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        last_write: Option<(u64, Vec<u8>)>,
    }

    impl BusDevice for Recorder {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(offset as u8);
        }
        fn write(&mut self, offset: u64, data: &[u8]) {
            self.last_write = Some((offset, data.to_vec()));
        }
    }

    #[test]
    fn routes_by_offset_within_range() {
        let mut bus = Bus::default();
        let dev = Arc::new(Mutex::new(Recorder::default()));
        bus.insert(0x3f8, 8, dev.clone()).unwrap();
        let mut data = [0u8; 1];
        assert!(bus.read(0x3fa, &mut data));
        assert_eq!(data, [2]);
        assert!(bus.write(0x3ff, &[9]));
        assert_eq!(dev.lock().unwrap().last_write, Some((7, vec![9])));
        assert!(!bus.read(0x400, &mut data));
        assert!(!bus.write(0x3f7, &[1]));
    }

    #[test]
    fn rejects_overlapping_and_empty_ranges() {
        let mut bus = Bus::default();
        let dev = || Arc::new(Mutex::new(Recorder::default()));
        bus.insert(0x60, 1, dev()).unwrap();
        bus.insert(0x64, 1, dev()).unwrap();
        assert!(bus.insert(0x5f, 2, dev()).is_err());
        assert!(bus.insert(0x64, 1, dev()).is_err());
        assert!(bus.insert(0x70, 0, dev()).is_err());
        assert!(bus.insert(u64::MAX, 2, dev()).is_err());
        bus.insert(0x61, 3, dev()).unwrap();
    }
}
