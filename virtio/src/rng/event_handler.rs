//! The virtio-rng device on the VMM's event loop (`event-manager`), as
//! virtio-fs: `init` registers only the activation eventfd; on activation the
//! event loop adds the queue eventfd, whose kicks fill the guest's
//! buffers.

use event_manager::{EventOps, Events, MutEventSubscriber};

use super::Rng;
use crate::activation::Kick;

impl MutEventSubscriber for Rng {
    fn init(&mut self, ops: &mut EventOps) {
        // The device may have been activated before it was registered.
        self.activation.init(ops, "virtio-rng");
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        if let Kick::Queue(_) = self.activation.kick(events.fd()) {
            self.process_queue();
        }
        self.activation.sync(ops, "virtio-rng");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};

    use crate::rng::test_utils::{TestGuest, BUF_ADDR};
    use crate::VirtioDevice;

    fn event_loop(guest: &TestGuest) -> EventManager<Arc<Mutex<dyn MutEventSubscriber + Send>>> {
        let mut manager = EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new().unwrap();
        manager.add_subscriber(guest.rng.clone());
        // The activation eventfd: the queue eventfd joins the poll set.
        manager.run_with_timeout(100).unwrap();
        manager
    }

    #[test]
    fn a_kick_fills_the_buffers_on_the_event_loop() {
        let mut guest = TestGuest::new();
        let mut manager = event_loop(&guest);
        guest.add_chain(&[(BUF_ADDR, 32, true)]);
        guest.kick();
        manager.run_with_timeout(100).unwrap();
        assert_eq!(guest.used(), vec![(0, 32)]);
    }

    #[test]
    fn a_kick_after_reset_does_nothing() {
        let mut guest = TestGuest::new();
        let mut manager = event_loop(&guest);
        guest.rng.lock().unwrap().reset();
        manager.run_with_timeout(100).unwrap();
        assert!(!guest.rng.lock().unwrap().activation.registered);
        guest.add_chain(&[(BUF_ADDR, 32, true)]);
        guest.kick();
        manager.run_with_timeout(100).unwrap();
        assert!(guest.used().is_empty());
    }
}
