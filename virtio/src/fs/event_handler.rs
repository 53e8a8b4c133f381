//! The virtio-fs device on the VMM's event loop (`event-manager`).
//!
//! `init` registers only `activate_evt`. When the transport activates or
//! resets the device (on a vCPU thread), the device signals `activate_evt`,
//! and the event loop then adds or removes the queue eventfds. A queue
//! eventfd firing serves that queue's requests.

use std::os::fd::AsRawFd;

use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
use tracing::warn;

use crate::activation::{sync_queue_polling, take_queue_kick};

use super::Fs;

impl Fs {
    /// Brings the poll set in line with the device state.
    fn sync_registrations(&mut self, ops: &mut EventOps) {
        sync_queue_polling(
            ops,
            self.active.as_ref(),
            &mut self.queue_evts_registered,
            &mut self.retired_queue_evts,
            "virtio-fs",
        );
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
        // Before any request of a driver that came after a reset.
        self.finish_session_reset();
        let fd = events.fd();
        if fd == self.activate_evt.as_raw_fd() {
            // Reading resets the counter; nothing else to do with it.
            let _ = self.activate_evt.read();
        } else if let Some(index) = take_queue_kick(self.active.as_ref(), fd) {
            self.process_queue(index);
        }
        self.sync_registrations(ops);
    }
}

#[cfg(test)]
mod tests {
    use fuse_backend_rs::abi::fuse_abi::{Opcode, ROOT_ID};
    use vm_memory::ByteValued;

    use crate::fs::test_utils::TestContext;
    use crate::fs::{FsOptions, REQUEST_QUEUE};

    #[test]
    fn queue_kicks_before_activation_do_nothing() {
        let mut ctx = TestContext::new(FsOptions::default());
        // What an ioeventfd does when the guest writes QueueNotify.
        ctx.transport.queue_evts()[REQUEST_QUEUE].write(1).unwrap();
        ctx.run();
        assert!(ctx.queues[REQUEST_QUEUE].next_used().is_none());
        assert!(!ctx.fs.lock().unwrap().queue_evts_registered);
    }

    #[test]
    fn ioeventfd_kicks_reach_the_device() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        assert!(ctx.fs.lock().unwrap().queue_evts_registered);
        std::fs::write(ctx.share.join("file"), b"").unwrap();
        // Through the transport's QueueNotify register, as in every test...
        assert!(ctx.lookup(ROOT_ID, b"file").is_ok());
        // ...and through the eventfd alone, as KVM signals it.
        let header = ctx.header(Opcode::Getattr, ROOT_ID, 16);
        let request = [header.as_slice(), &[0u8; 16]].concat();
        ctx.stage_raw(REQUEST_QUEUE, &request);
        ctx.run();
        assert!(ctx.queues[REQUEST_QUEUE].next_used().is_none());
        ctx.transport.queue_evts()[REQUEST_QUEUE].write(1).unwrap();
        ctx.run();
        let (_, used_len) = ctx.queues[REQUEST_QUEUE].next_used().unwrap();
        assert!(used_len > 16, "a GETATTR reply: {used_len}");
    }

    #[test]
    fn reset_takes_the_queues_out_of_the_poll_set() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        ctx.reset();
        {
            let fs = ctx.fs.lock().unwrap();
            assert!(!fs.queue_evts_registered);
            assert!(fs.retired_queue_evts.is_empty());
        }
        // A stale kick after reset is not processed (and does not spin).
        ctx.transport.queue_evts()[REQUEST_QUEUE].write(1).unwrap();
        ctx.run();
        assert!(ctx.queues[REQUEST_QUEUE].next_used().is_none());
    }
}
