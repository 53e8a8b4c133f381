//! The virtio-fs device on the VMM's event loop (`event-manager`).
//!
//! `init` registers only the activation eventfd. When the transport
//! activates or resets the device (on a vCPU thread), the device signals
//! it, and the event loop then adds or removes the queue eventfds. A queue
//! eventfd firing serves that queue's requests.

use event_manager::{EventOps, Events, MutEventSubscriber};

use super::Fs;
use crate::activation::Kick;

impl MutEventSubscriber for Fs {
    fn init(&mut self, ops: &mut EventOps) {
        // The device may have been activated before it was registered.
        self.activation.init(ops, "virtio-fs");
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        // Before any request of a driver that came after a reset.
        self.finish_session_reset();
        if let Kick::Queue(index) = self.activation.kick(events.fd()) {
            self.process_queue(index);
        }
        self.activation.sync(ops, "virtio-fs");
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
        assert!(!ctx.fs.lock().unwrap().activation.registered);
    }

    #[test]
    fn ioeventfd_kicks_reach_the_device() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        assert!(ctx.fs.lock().unwrap().activation.registered);
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
            assert!(!fs.activation.registered);
            assert!(fs.activation.retired.is_empty());
        }
        // A stale kick after reset is not processed (and does not spin).
        ctx.transport.queue_evts()[REQUEST_QUEUE].write(1).unwrap();
        ctx.run();
        assert!(ctx.queues[REQUEST_QUEUE].next_used().is_none());
    }
}
