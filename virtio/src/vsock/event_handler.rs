//! The vsock device on the VMM's event loop (`event-manager`).
//!
//! `init` registers only the activation eventfd. When the transport
//! activates or resets the device (on a vCPU thread), the device signals
//! it, and the event loop then adds or removes the queue eventfds and
//! sockets.

use event_manager::{EventOps, Events, MutEventSubscriber};

use super::{Vsock, TX_QUEUE};
use crate::activation::Kick;

impl Vsock {
    /// Brings the poll set in line with the device state.
    fn sync_registrations(&mut self, ops: &mut EventOps) {
        self.activation.sync(ops, "vsock");
        self.muxer.sync(ops);
    }
}

impl MutEventSubscriber for Vsock {
    fn init(&mut self, ops: &mut EventOps) {
        // The device may have been activated before it was registered.
        self.activation.init(ops, "vsock");
        self.muxer.sync(ops);
    }

    fn process(&mut self, events: Events, ops: &mut EventOps) {
        let fd = events.fd();
        match self.activation.kick(fd) {
            Kick::Activation => {}
            // New rx buffers are used below; the event queue is unused.
            Kick::Queue(index) => {
                if index == TX_QUEUE {
                    self.process_tx();
                }
            }
            Kick::Other => self.muxer.handle_event(fd, events.event_set()),
        }
        self.process_rx();
        self.sync_registrations(ops);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use crate::vsock::test_utils::TestContext;
    use crate::vsock::{op, TX_QUEUE};

    #[test]
    fn event_loop_on_its_own_thread() {
        // As in the VMM: the transport runs on this ("vCPU") thread, the
        // event loop on another.
        let mut ctx = TestContext::with_event_thread();
        ctx.activate();
        ctx.post_rx(4);
        let mut host = ctx.host_connect(1024);
        let (request, _) = ctx.recv_wait();
        assert_eq!((request.op, request.dst_port), (op::REQUEST, 1024));
        ctx.send_op(op::RESPONSE, 1024, request.src_port);
        let ok = format!("OK {}\n", request.src_port);
        let mut line = vec![0u8; ok.len()];
        host.read_exact(&mut line).unwrap();
        assert_eq!(line, ok.as_bytes());
        host.write_all(b"over the thread").unwrap();
        let (hdr, data) = ctx.recv_wait();
        assert_eq!((hdr.op, data.as_slice()), (op::RW, &b"over the thread"[..]));
        ctx.send_data(1024, request.src_port, b"back");
        let mut back = [0u8; 4];
        host.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"back");
    }

    #[test]
    fn queue_kicks_before_activation_do_nothing() {
        let mut ctx = TestContext::new();
        // What an ioeventfd does when the guest writes QueueNotify.
        ctx.transport.queue_evts()[TX_QUEUE].write(1).unwrap();
        ctx.run();
        assert_eq!(ctx.tx_used(), 0);
        assert!(!ctx.vsock.lock().unwrap().activation.registered);
    }

    #[test]
    fn ioeventfd_kicks_reach_the_device() {
        let mut ctx = TestContext::active();
        assert!(ctx.vsock.lock().unwrap().activation.registered);
        ctx.post_rx(1);
        // A packet made available without a QueueNotify write...
        let q = &mut ctx.queues[TX_QUEUE];
        let addr = q.slot_addr(q.peek_desc(0));
        let hdr = crate::vsock::test_utils::TestHeader::guest(op::RW, 1, 2);
        vm_memory::Bytes::write_slice(
            ctx.guest_mem,
            &hdr.to_bytes(),
            vm_memory::GuestAddress(addr),
        )
        .unwrap();
        q.add_chain(&[(addr, 44, 0)]);
        // ...is processed when the transport's eventfd fires, as KVM does.
        ctx.transport.queue_evts()[TX_QUEUE].write(1).unwrap();
        ctx.run();
        assert_eq!(ctx.tx_used(), 1);
        ctx.expect(op::RST, 2, 1);
    }

    #[test]
    fn reset_takes_the_queues_out_of_the_poll_set() {
        let mut ctx = TestContext::active();
        ctx.transport
            .write(crate::mmio::reg::STATUS, &0u32.to_le_bytes());
        ctx.run();
        {
            let vsock = ctx.vsock.lock().unwrap();
            assert!(!vsock.activation.registered);
            assert!(vsock.activation.retired.is_empty());
        }
        // A stale kick after reset is not processed (and does not spin).
        ctx.send_op(op::RW, 1, 2);
        ctx.transport.queue_evts()[TX_QUEUE].write(1).unwrap();
        ctx.run();
        assert_eq!(ctx.tx_used(), 0);
    }
}
