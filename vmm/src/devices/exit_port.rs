//! The exit port: the guest init writes its status byte here to power the
//! VM off with that status (see `proto::EXIT_PORT`).

use std::sync::mpsc::Sender;

use super::bus::BusDevice;
use crate::vm::VmExit;

/// Turns a one-byte write into [`VmExit::PoweredOff`].
pub struct ExitPort {
    exits: Sender<VmExit>,
}

impl ExitPort {
    /// An exit port reporting to `exits`.
    pub fn new(exits: Sender<VmExit>) -> Self {
        Self { exits }
    }
}

impl BusDevice for ExitPort {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, _offset: u64, data: &[u8]) {
        if let Some(&status) = data.first() {
            // The receiver is gone only when the VM is already ending.
            let _ = self.exits.send(VmExit::PoweredOff(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_powers_off_with_its_status() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut port = ExitPort::new(tx);
        port.write(0, &[42]);
        assert_eq!(rx.try_recv().unwrap(), VmExit::PoweredOff(42));
        port.write(0, &[]);
        assert!(rx.try_recv().is_err());
    }
}
