//! The exit port: the guest init writes its status byte here to power the
//! VM off with that status (see `proto::EXIT_PORT`).

use std::sync::Arc;

use super::bus::BusDevice;
use crate::exit::{ExitEvent, VmExit};

/// Turns a one-byte write into [`VmExit::PoweredOff`].
pub struct ExitPort {
    exits: Arc<ExitEvent>,
}

impl ExitPort {
    /// An exit port signalling `exits`.
    pub fn new(exits: Arc<ExitEvent>) -> Self {
        Self { exits }
    }
}

impl BusDevice for ExitPort {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) {
        if let Some(&status) = data.first() {
            self.exits.signal(VmExit::PoweredOff(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_powers_off_with_its_status() {
        let exits = Arc::new(ExitEvent::new().unwrap());
        let mut port = ExitPort::new(exits.clone());
        port.write(0, &[]);
        port.write(0, &[42]);
        assert_eq!(exits.wait().unwrap(), VmExit::PoweredOff(42));
    }
}
