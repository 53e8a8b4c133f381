//! The timing port: the guest writes the stage it reached (see
//! `proto::timing`), and the VMM records it as a timing mark when marks
//! are on ([`crate::timing`]). Otherwise a write is ignored.

use proto::timing::GuestStage;

use super::bus::BusDevice;
use crate::timing;

/// Turns a one-byte write into a timing mark.
pub struct TimingPort;

impl BusDevice for TimingPort {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) {
        if !timing::enabled() {
            return;
        }
        if let Some(stage) = data.first().copied().and_then(GuestStage::from_byte) {
            timing::mark(stage.name());
        }
    }
}
