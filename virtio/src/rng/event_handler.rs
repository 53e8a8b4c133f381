//! The virtio-rng device on the VMM's event loop (`event-manager`), as
//! virtio-fs: `init` registers only `activate_evt`; on activation the
//! event loop adds the queue eventfd, whose kicks fill the guest's
//! buffers.

use std::os::fd::AsRawFd;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use tracing::warn;

use super::Rng;
use crate::activation::{sync_queue_polling, take_queue_kick};

impl Rng {
    fn sync_registrations(&mut self, ops: &mut EventOps) {
        sync_queue_polling(
            ops,
            self.active.as_ref(),
            &mut self.queue_evts_registered,
            &mut self.retired_queue_evts,
            "virtio-rng",
        );
    }
}

impl MutEventSubscriber for Rng {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.activate_evt, EventSet::IN)) {
            warn!("virtio-rng: cannot poll the activation eventfd: {e}");
        }
        // The device may have been activated before it was registered.
        self.sync_registrations(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.activate_evt.as_raw_fd() {
            // Reading resets the counter; nothing else to do with it.
            let _ = self.activate_evt.read();
        } else if take_queue_kick(self.active.as_ref(), fd).is_some() {
            self.process_queue();
        }
        self.sync_registrations(ops);
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
        assert!(!guest.rng.lock().unwrap().queue_evts_registered);
        guest.add_chain(&[(BUF_ADDR, 32, true)]);
        guest.kick();
        manager.run_with_timeout(100).unwrap();
        assert!(guest.used().is_empty());
    }
}
