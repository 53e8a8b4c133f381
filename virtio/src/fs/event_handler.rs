//! The virtio-fs device on the VMM's event loop (`event-manager`).
//!
//! `init` registers only `activate_evt`. When the transport activates or
//! resets the device (on a vCPU thread), the device signals `activate_evt`,
//! and the event loop then adds or removes the queue eventfds. A queue
//! eventfd firing serves that queue's requests.

use std::os::fd::AsRawFd;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use tracing::warn;

use super::Fs;

impl Fs {
    /// Brings the poll set in line with the device state.
    fn sync_registrations(&mut self, ops: &mut EventOps) {
        for evt in self.retired_queue_evts.drain(..) {
            // Fails only if it was never added; either way it is out.
            let _ = ops.remove(Events::empty(&evt));
        }
        if let (false, Some(active)) = (self.queue_evts_registered, self.active.as_ref()) {
            for evt in &active.queue_evts {
                if let Err(e) = ops.add(Events::new(evt, EventSet::IN)) {
                    warn!("virtio-fs: cannot poll a queue eventfd: {e}");
                }
            }
            self.queue_evts_registered = true;
        }
    }
}

impl MutEventSubscriber for Fs {
    fn init(&mut self, ops: &mut EventOps) {
        if let Err(e) = ops.add(Events::new(&self.activate_evt, EventSet::IN)) {
            warn!("virtio-fs: cannot poll the activation eventfd: {e}");
        }
        // The device may have been activated before it was registered.
        self.sync_registrations(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        if fd == self.activate_evt.as_raw_fd() {
            // Reading resets the counter; nothing else to do with it.
            let _ = self.activate_evt.read();
        } else if let Some(index) = self
            .active
            .as_ref()
            .and_then(|a| a.queue_evts.iter().position(|e| e.as_raw_fd() == fd))
        {
            if let Some(evt) = self.active.as_ref().and_then(|a| a.queue_evts.get(index)) {
                let _ = evt.read();
            }
            self.process_queue(index);
        }
        self.sync_registrations(ops);
    }
}
