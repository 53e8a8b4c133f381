//! The virtio-net device on the VMM's event loop (`event-manager`).
//!
//! `init` registers only the activation eventfd. On activation the event
//! loop adds the queue eventfds and the backend's fd and narrows the
//! backend's offloads to what the driver accepted (here, not on the vCPU
//! thread that activates: its seccomp filter allows no such ioctl). The
//! backend's fd leaves the poll set while the guest has no rx buffers for
//! the frame at hand, and comes back with the guest's next rx kick.

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};

use super::{Backend, Net, RX_QUEUE, TX_QUEUE};
use crate::activation::Kick;

impl<B: Backend> Net<B> {
    /// Polls the backend exactly when the device wants its frames.
    fn sync_backend(&mut self, ops: &mut EventOps) {
        let wanted = self.wants_backend();
        if wanted == self.backend_polled {
            return;
        }
        let result = if wanted {
            ops.add(Events::new(&self.backend, EventSet::IN))
        } else {
            ops.remove(Events::empty(&self.backend))
        };
        match result {
            Ok(()) => self.backend_polled = wanted,
            // Not in the poll set after all (or never to be): say so once
            // and stop trying.
            Err(_) => self.backend_hung_up(),
        }
    }
}

impl<B: Backend> MutEventSubscriber for Net<B> {
    fn init(&mut self, ops: &mut EventOps) {
        // The device may have been activated before it was registered.
        self.activation.init(ops, "virtio-net");
        self.activation_changed();
        self.process_rx();
        self.sync_backend(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        match self.activation.kick(events.fd()) {
            Kick::Activation => {
                self.activation_changed();
                self.process_rx();
            }
            Kick::Queue(TX_QUEUE) => self.process_tx(),
            Kick::Queue(RX_QUEUE) => {
                self.rx_buffers_posted();
                self.process_rx();
            }
            Kick::Queue(_) => {}
            Kick::Other => {
                if events
                    .event_set()
                    .intersects(EventSet::ERROR | EventSet::HANG_UP)
                {
                    self.backend_hung_up();
                } else {
                    self.process_rx();
                }
            }
        }
        self.activation.sync(ops, "virtio-net");
        self.sync_backend(ops);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Shutdown;

    use crate::net::test_utils::TestGuest;
    use crate::net::{RX_QUEUE, VNET_HDR_LEN};

    #[test]
    fn the_backend_is_polled_only_while_active() {
        let mut guest = TestGuest::new(true);
        guest.run();
        assert!(!guest.net.lock().unwrap().backend_polled);
        guest.host_send(&[0; VNET_HDR_LEN + 60]);
        // A readable backend of an inactive device does not spin the loop.
        guest.run();
        guest.activate(1 << crate::features::VIRTIO_F_VERSION_1);
        // The frame waits for buffers; posting them brings it in.
        let heads = guest.post_rx(1, 1024);
        guest.kick(RX_QUEUE);
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 72)]);
        assert!(guest.net.lock().unwrap().backend_polled);
        // A frame arriving later needs no kick: the backend's fd wakes the loop.
        let heads = guest.post_rx(1, 1024);
        guest.kick(RX_QUEUE);
        guest.host_send(&[0; VNET_HDR_LEN + 30]);
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 42)]);
    }

    #[test]
    fn a_backend_that_ends_or_hangs_up_is_no_longer_polled() {
        for hang_up in [false, true] {
            let mut guest = TestGuest::active();
            guest.post_rx(1, 1024);
            guest.kick(RX_QUEUE);
            if hang_up {
                // The fd reports a hang-up.
                let net = guest.net.lock().unwrap();
                net.backend.sock.shutdown(Shutdown::Both).unwrap();
            } else {
                // A read of nothing: the end of the backend's frames.
                guest.host_send(&[]);
            }
            // `run` fails if the loop keeps waking up for it.
            guest.run();
            assert!(!guest.net.lock().unwrap().backend_polled, "{hang_up}");
        }
    }
}
