//! The virtio-vsock device: config space, activation, and moving packets
//! between the queues and the muxer.

use std::path::{Path, PathBuf};

use tracing::warn;
use virtio_queue::{QueueOwnedT, QueueT};
use virtio_vsock::packet::VsockPacket;

use super::muxer::VsockMuxer;
use super::{VsockError, MAX_PKT_BUF_SIZE, NUM_QUEUES, QUEUE_SIZE, RX_QUEUE, TX_QUEUE};
use crate::activation::{avail_idx_is_sane, Activation, ActiveState};
use crate::features::VIRTIO_F_VERSION_1;
use crate::{device_type, VirtioDevice, VirtioError};

/// Queue problems caused by the guest, logged once per device.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum QueueWarning {
    BadTxChain = 1,
    BadRxChain = 2,
    UsedRing = 4,
    Interrupt = 8,
    AvailIndex = 16,
    BadHeadIndex = 32,
}

/// A virtio-vsock device whose host side is Unix sockets.
///
/// The VMM creates it as `Arc<Mutex<Vsock>>` and hands the same Arc to the
/// [`crate::MmioTransport`] (as `Arc<Mutex<dyn VirtioDevice>>`) and to its
/// `EventManager` (as `Arc<Mutex<dyn MutEventSubscriber + Send>>`), before
/// the guest boots:
///
/// ```no_run
/// use std::sync::{Arc, Mutex};
///
/// use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
/// use virtio::mmio::{MmioTransport, QUEUE_NOTIFY_OFFSET};
/// use virtio::vsock::Vsock;
/// use virtio::GuestMemory;
///
/// # fn wire(mem: GuestMemory) -> Result<(), Box<dyn std::error::Error>> {
/// let vsock = Arc::new(Mutex::new(Vsock::new(3, "/run/runvm/c1/vsock.sock".into())?));
/// let mut event_manager = EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new()?;
/// event_manager.add_subscriber(vsock.clone());
/// let transport = MmioTransport::new(mem, vsock)?;
/// for (index, evt) in transport.queue_evts().iter().enumerate() {
///     // vm.register_ioevent(evt, &IoEventAddress::Mmio(base + QUEUE_NOTIFY_OFFSET), index as u32)
/// #   let _ = (index, evt, QUEUE_NOTIFY_OFFSET);
/// }
/// // vm.register_irqfd(transport.interrupt().irq_evt(), 5)
/// // Then: an event loop thread runs `event_manager.run()`, and the MMIO bus
/// // forwards guest accesses to `transport.read()` / `transport.write()`.
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Vsock {
    cid: u64,
    queue_max_sizes: [u16; NUM_QUEUES],
    pub(crate) muxer: VsockMuxer,
    pub(crate) activation: Activation,
    warned: u32,
}

impl Vsock {
    /// A device for a guest with CID `cid` (3 or more), listening for host
    /// connections at `uds_path`, which must not exist yet.
    pub fn new(cid: u64, uds_path: PathBuf) -> Result<Self, VsockError> {
        // 0-2 are reserved; u32::MAX is VMADDR_CID_ANY; the upper 32 bits
        // are reserved by the spec.
        if cid < 3 || cid >= u64::from(u32::MAX) {
            return Err(VsockError::InvalidCid(cid));
        }
        Ok(Self {
            cid,
            queue_max_sizes: [QUEUE_SIZE; NUM_QUEUES],
            activation: Activation::new().map_err(VsockError::EventFd)?,
            muxer: VsockMuxer::new(cid, uds_path)?,
            warned: 0,
        })
    }

    /// The guest's CID.
    pub fn cid(&self) -> u64 {
        self.cid
    }

    /// Where the device listens for host connections.
    pub fn uds_path(&self) -> &Path {
        self.muxer.uds_path()
    }

    fn warn_once(&mut self, kind: QueueWarning, what: &str) {
        let bit = kind as u32;
        if self.warned & bit == 0 {
            self.warned |= bit;
            warn!("vsock: {what} (logged once)");
        }
    }

    /// Takes the packets the guest sent on the tx queue.
    pub(crate) fn process_tx(&mut self) {
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mut warnings = 0u32;
        let mut used_any = false;
        let mem = &active.mem;
        let queue = &mut active.queues[TX_QUEUE];
        loop {
            if !avail_idx_is_sane(queue, mem) {
                warnings |= QueueWarning::AvailIndex as u32;
                break;
            }
            let Some(mut chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            if head >= queue.size() {
                // No such descriptor: nothing to parse or give back.
                warnings |= QueueWarning::BadHeadIndex as u32;
                continue;
            }
            match VsockPacket::from_tx_virtq_chain(mem, &mut chain, MAX_PKT_BUF_SIZE) {
                Ok(pkt) => self.muxer.send_pkt(&pkt),
                Err(_) => warnings |= QueueWarning::BadTxChain as u32,
            }
            if queue.add_used(mem, head, 0).is_err() {
                warnings |= QueueWarning::UsedRing as u32;
                break;
            }
            used_any = true;
        }
        self.finish_queue(TX_QUEUE, used_any, warnings);
    }

    /// Fills the guest's rx buffers with what the muxer has for it.
    pub(crate) fn process_rx(&mut self) {
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mut warnings = 0u32;
        let mut used_any = false;
        let mem = &active.mem;
        let queue = &mut active.queues[RX_QUEUE];
        while self.muxer.has_pending_rx() {
            if !avail_idx_is_sane(queue, mem) {
                warnings |= QueueWarning::AvailIndex as u32;
                break;
            }
            let Some(mut chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            if head >= queue.size() {
                warnings |= QueueWarning::BadHeadIndex as u32;
                continue;
            }
            let used_len = match VsockPacket::from_rx_virtq_chain(mem, &mut chain, MAX_PKT_BUF_SIZE)
            {
                Ok(mut pkt) => match self.muxer.recv_pkt(&mut pkt) {
                    Some(len) => len,
                    None => {
                        // Nothing to send after all: keep the buffer for later.
                        queue.go_to_previous_position();
                        break;
                    }
                },
                Err(_) => {
                    // An unusable buffer goes back to the guest empty.
                    warnings |= QueueWarning::BadRxChain as u32;
                    0
                }
            };
            if queue.add_used(mem, head, used_len).is_err() {
                warnings |= QueueWarning::UsedRing as u32;
                break;
            }
            used_any = true;
        }
        self.finish_queue(RX_QUEUE, used_any, warnings);
    }

    /// Interrupts the guest if it wants to hear about used buffers, and logs
    /// (once) what went wrong.
    fn finish_queue(&mut self, index: usize, used_any: bool, mut warnings: u32) {
        if let (true, Some(active)) = (used_any, self.activation.active.as_mut()) {
            let notify = active.queues[index]
                .needs_notification(&active.mem)
                .unwrap_or(true);
            if notify && active.interrupt.signal_used_queue().is_err() {
                warnings |= QueueWarning::Interrupt as u32;
            }
        }
        for (kind, what) in [
            (
                QueueWarning::BadTxChain,
                "dropped a malformed tx descriptor chain",
            ),
            (
                QueueWarning::BadRxChain,
                "returned a malformed rx descriptor chain",
            ),
            (QueueWarning::UsedRing, "cannot write the used ring"),
            (QueueWarning::Interrupt, "cannot signal the guest"),
            (
                QueueWarning::BadHeadIndex,
                "skipped a descriptor index past the queue",
            ),
        ] {
            if warnings & kind as u32 != 0 {
                self.warn_once(kind, what);
            }
        }
    }
}

impl VirtioDevice for Vsock {
    fn device_type(&self) -> u32 {
        device_type::VSOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_max_sizes
    }

    fn avail_features(&self) -> u64 {
        1 << VIRTIO_F_VERSION_1
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // struct virtio_vsock_config { le64 guest_cid; }
        let config = self.cid.to_le_bytes();
        crate::read_config_bytes(&config, offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // The config space is read-only.
    }

    fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError> {
        self.activation.activate(active, NUM_QUEUES)?;
        self.muxer.set_listening(true);
        Ok(())
    }

    fn reset(&mut self) {
        self.activation.reset();
        self.muxer.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsock::test_utils::{
        TestContext, TestHeader, DESC_F_WRITE, GUEST_CID, MEM_SIZE, RX_DATA_LEN,
    };
    use crate::vsock::{op, CONN_TX_BUF_SIZE, VSOCK_FLAGS_SHUTDOWN_RCV, VSOCK_FLAGS_SHUTDOWN_SEND};
    use crate::Interrupt;
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::sync::Arc;
    use virtio_queue::Queue;
    use vm_memory::Bytes;
    use vmm_sys_util::eventfd::EventFd;
    use vmm_sys_util::eventfd::EFD_NONBLOCK;

    fn read_exactly(stream: &mut std::os::unix::net::UnixStream, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        stream.read_exact(&mut buf).unwrap();
        buf
    }

    #[test]
    fn host_to_guest_round_trip() {
        let mut ctx = TestContext::active();
        ctx.post_rx(6);
        let mut host = ctx.host_connect(1024);

        // The guest gets a REQUEST for port 1024 and accepts it.
        let (request, _) = ctx.recv().expect("REQUEST");
        assert_eq!((request.op, request.dst_port), (op::REQUEST, 1024));
        assert_eq!(request.buf_alloc, CONN_TX_BUF_SIZE);
        let local = request.src_port;
        ctx.send_op(op::RESPONSE, 1024, local);
        let ok = format!("OK {local}\n");
        assert_eq!(read_exactly(&mut host, ok.len()), ok.as_bytes());
        assert_ne!(ctx.transport.interrupt().status() & 1, 0);

        // Host to guest.
        host.write_all(b"hello guest").unwrap();
        ctx.run();
        let (hdr, data) = ctx.expect(op::RW, local, 1024);
        assert_eq!(data, b"hello guest");
        assert_eq!(hdr.fwd_cnt, 0);

        // Guest to host.
        ctx.send_data(1024, local, b"hello host");
        assert_eq!(read_exactly(&mut host, 10), b"hello host");

        // The host closes its write half: the guest gets SHUTDOWN(SEND).
        host.shutdown(Shutdown::Write).unwrap();
        ctx.run();
        let (hdr, _) = ctx.expect(op::SHUTDOWN, local, 1024);
        assert_eq!(hdr.flags, VSOCK_FLAGS_SHUTDOWN_SEND);
        assert_eq!(hdr.fwd_cnt, 10);

        // The guest closes: it gets an RST and the host sees EOF.
        let mut shutdown = TestHeader::guest(op::SHUTDOWN, 1024, local);
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_RCV | VSOCK_FLAGS_SHUTDOWN_SEND;
        ctx.send(shutdown, &[]);
        ctx.expect(op::RST, local, 1024);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert_eq!(ctx.connections(), 0);
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn guest_to_host_round_trip() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(6);
        ctx.send_op(op::REQUEST, 5000, 52);
        ctx.expect(op::RESPONSE, 52, 5000);
        let (mut host, _) = listener.accept().unwrap();
        host.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();

        ctx.send_data(5000, 52, b"ping");
        assert_eq!(read_exactly(&mut host, 4), b"ping");
        host.write_all(b"pong").unwrap();
        ctx.run();
        let (_, data) = ctx.expect(op::RW, 52, 5000);
        assert_eq!(data, b"pong");

        // The guest shuts down its sending side: the host reads EOF.
        let mut shutdown = TestHeader::guest(op::SHUTDOWN, 5000, 52);
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_SEND;
        ctx.send(shutdown, &[]);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        // The host can still answer, then closes.
        host.write_all(b"bye").unwrap();
        drop(host);
        ctx.run();
        let (_, data) = ctx.expect(op::RW, 52, 5000);
        assert_eq!(data, b"bye");
        let (hdr, _) = ctx.expect(op::SHUTDOWN, 52, 5000);
        assert_eq!(hdr.flags, VSOCK_FLAGS_SHUTDOWN_SEND);
        // Both directions done: RST closes the connection.
        ctx.expect(op::RST, 52, 5000);
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn guest_connection_to_a_port_nobody_listens_on_is_reset() {
        let mut ctx = TestContext::active();
        ctx.post_rx(2);
        ctx.send_op(op::REQUEST, 5000, 53);
        ctx.expect(op::RST, 53, 5000);
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn guest_refusal_closes_the_host_socket() {
        let mut ctx = TestContext::active();
        ctx.post_rx(2);
        let mut host = ctx.host_connect(1234);
        let (request, _) = ctx.recv().unwrap();
        ctx.send_op(op::RST, 1234, request.src_port);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "no OK line for a refused connection");
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn host_disconnect_before_the_guest_answers() {
        let mut ctx = TestContext::active();
        ctx.post_rx(4);
        let host = ctx.host_connect(1234);
        let (request, _) = ctx.recv().unwrap();
        drop(host);
        ctx.run();
        // The request is withdrawn.
        ctx.expect(op::RST, request.src_port, 1234);
        assert_eq!(ctx.connections(), 0);
        // A late RESPONSE is for a connection that no longer exists.
        ctx.send_op(op::RESPONSE, 1234, request.src_port);
        ctx.expect(op::RST, request.src_port, 1234);
    }

    #[test]
    fn bad_handshakes_are_dropped() {
        let mut ctx = TestContext::active();
        ctx.post_rx(2);
        for line in ["CONNECT\n", "HELLO 5\n", "CONNECT 99999999999\n"] {
            let mut host = ctx.connect_uds();
            host.write_all(line.as_bytes()).unwrap();
            ctx.run();
            let mut rest = Vec::new();
            host.read_to_end(&mut rest).unwrap();
            assert!(rest.is_empty());
        }
        // A line that never ends is cut off.
        let mut host = ctx.connect_uds();
        host.write_all(&[b'A'; 100]).unwrap();
        ctx.run();
        // Closed with unread bytes: EOF or a reset.
        let mut rest = Vec::new();
        assert!(!matches!(host.read_to_end(&mut rest), Ok(n) if n > 0));
        assert!(ctx.recv().is_none());
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn host_connections_wait_for_activation() {
        let mut ctx = TestContext::new();
        let mut host = ctx.connect_uds();
        host.write_all(b"CONNECT 7\n").unwrap();
        ctx.run();
        assert_eq!(ctx.connections(), 0);
        ctx.activate();
        ctx.post_rx(1);
        let (request, _) = ctx.recv().expect("REQUEST after activation");
        assert_eq!((request.op, request.dst_port), (op::REQUEST, 7));
    }

    #[test]
    fn reset_drops_connections_and_reactivation_works() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(2);
        ctx.send_op(op::REQUEST, 5000, 52);
        ctx.expect(op::RESPONSE, 52, 5000);
        let (mut host, _) = listener.accept().unwrap();
        assert_eq!(ctx.connections(), 1);

        ctx.transport
            .write(crate::mmio::reg::STATUS, &0u32.to_le_bytes());
        ctx.run();
        assert_eq!(ctx.connections(), 0);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();

        // A fresh driver brings it up again on fresh rings.
        ctx.queues = (0..3)
            .map(|i| crate::vsock::test_utils::GuestQueue::new(ctx.guest_mem, i))
            .collect();
        ctx.activate();
        ctx.post_rx(2);
        ctx.send_op(op::REQUEST, 5001, 52);
        ctx.expect(op::RESPONSE, 52, 5001);
    }

    #[test]
    fn malformed_tx_chains_are_dropped() {
        let mut ctx = TestContext::active();
        ctx.post_rx(2);
        let hdr = TestHeader::guest(op::REQUEST, 1, 2).to_bytes();
        let tx = crate::vsock::TX_QUEUE;
        let slot = ctx.queues[tx].slot_addr(0);
        ctx.guest_mem
            .write_slice(&hdr, vm_memory::GuestAddress(slot))
            .unwrap();
        let end = MEM_SIZE - 20;
        let chains: Vec<Vec<(u64, u32, u16)>> = vec![
            // Header descriptor shorter than a header.
            vec![(slot, 20, 0)],
            // Device-writable tx descriptor.
            vec![(slot, 44, DESC_F_WRITE)],
            // Header crossing the end of guest memory.
            vec![(end, 44, 0)],
            // Far outside guest memory.
            vec![(u64::MAX - 10, 44, 0)],
        ];
        for chain in chains {
            ctx.queues[tx].add_chain(&chain);
            ctx.kick(tx as u32);
            assert_eq!(ctx.tx_used(), 1, "{chain:?}");
        }
        // Data: len beyond the data descriptor, beyond the maximum, a
        // write-only data descriptor, data crossing the end of memory.
        let data_slot = ctx.queues[tx].slot_addr(1);
        for (len, data_desc) in [
            (100u32, (data_slot, 50u32, 0u16)),
            (MAX_PKT_BUF_SIZE + 1, (data_slot, MAX_PKT_BUF_SIZE + 1, 0)),
            (10, (data_slot, 10, DESC_F_WRITE)),
            (40, (end, 40, 0)),
        ] {
            let mut hdr = TestHeader::guest(op::RW, 1, 2);
            hdr.len = len;
            let hdr_slot = ctx.queues[tx].slot_addr(ctx.queues[tx].peek_desc(0));
            ctx.guest_mem
                .write_slice(&hdr.to_bytes(), vm_memory::GuestAddress(hdr_slot))
                .unwrap();
            ctx.queues[tx].add_chain(&[(hdr_slot, 44, 0), data_desc]);
            ctx.kick(tx as u32);
            assert_eq!(ctx.tx_used(), 1);
        }
        // None of them reached the muxer, so no RST either.
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn looping_and_overlong_tx_chains_do_not_hang() {
        let mut ctx = TestContext::active();
        ctx.post_rx(2);
        let tx = crate::vsock::TX_QUEUE;
        let hdr_slot = ctx.queues[tx].slot_addr(0);
        let mut hdr = TestHeader::guest(op::RW, 1, 2);
        hdr.len = 8;
        ctx.guest_mem
            .write_slice(&hdr.to_bytes(), vm_memory::GuestAddress(hdr_slot))
            .unwrap();
        // Descriptor 0 points at itself.
        ctx.queues[tx].store_desc(0, hdr_slot, 44, 1, 0);
        ctx.queues[tx].make_available(0);
        ctx.kick(tx as u32);
        // A chain through every descriptor.
        let chain: Vec<_> = (0..16).map(|_| (hdr_slot, 44, 0)).collect();
        ctx.queues[tx].add_chain(&chain);
        ctx.kick(tx as u32);
        // The looping chain parses as header + data (8 bytes of itself) and
        // the long one as header + data: both are RW for no connection.
        while ctx.recv().is_some() {}
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn random_guest_traffic_never_panics() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        listener.set_nonblocking(true).unwrap();
        let mut hosts = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let tx = crate::vsock::TX_QUEUE;
        let rx = crate::vsock::RX_QUEUE;
        let mut rx_outstanding = 0;
        let mut accepted = 0;
        for _ in 0..2000 {
            let r = next();
            let mut hdr = TestHeader::guest((r % 9) as u16, 5000 + (r >> 8) as u32 % 4, 52);
            if r & (1 << 20) != 0 {
                hdr.flags = (r >> 21) as u32 % 4;
            }
            if r & (1 << 24) != 0 {
                hdr.buf_alloc = (r >> 25) as u32;
                hdr.fwd_cnt = (r >> 40) as u32;
            }
            if r % 97 == 0 {
                hdr.type_ = (r >> 3) as u16;
            }
            if r % 89 == 0 {
                hdr.src_cid = r >> 7;
            }
            let data_len = [
                0u32,
                1,
                100,
                4096,
                MAX_PKT_BUF_SIZE,
                MAX_PKT_BUF_SIZE + 1,
                u32::MAX,
            ][(r >> 50) as usize % 7];
            hdr.len = data_len;
            let q = &mut ctx.queues[tx];
            let hdr_addr = q.slot_addr(q.peek_desc(0));
            let data_addr = q.slot_addr(q.peek_desc(1));
            ctx.guest_mem
                .write_slice(&hdr.to_bytes(), vm_memory::GuestAddress(hdr_addr))
                .unwrap();
            let shape = next();
            let flags = |bit: u64| if shape & bit != 0 { DESC_F_WRITE } else { 0 };
            let hdr_len = [44u32, 20, 44 + 100, 0][(shape >> 8) as usize % 4];
            let data_desc_len = [data_len, 10, 0x2_0000, u32::MAX][(shape >> 12) as usize % 4];
            let data_addr = [data_addr, MEM_SIZE - 8, u64::MAX - 4, 0][(shape >> 16) as usize % 4];
            match shape % 3 {
                0 => {
                    q.add_chain(&[(hdr_addr, hdr_len, flags(1 << 30))]);
                }
                1 => {
                    q.add_chain(&[
                        (hdr_addr, hdr_len, flags(1 << 30)),
                        (data_addr, data_desc_len, flags(1 << 31)),
                    ]);
                }
                _ => {
                    q.add_chain(&[
                        (hdr_addr, hdr_len, 0),
                        (data_addr, data_desc_len, 0),
                        (hdr_addr, 44, flags(1 << 32)),
                    ]);
                }
            }
            ctx.kick(tx as u32);
            ctx.tx_used();

            // Now and then: the guest reads, the host connects and talks.
            match next() % 8 {
                0 if rx_outstanding < 6 => {
                    ctx.add_rx_buffers(2);
                    rx_outstanding += 2;
                    ctx.kick(rx as u32);
                }
                1 => {
                    if let Ok((stream, _)) = listener.accept() {
                        stream.set_nonblocking(true).unwrap();
                        hosts.push(stream);
                        accepted += 1;
                    }
                }
                2 => {
                    for host in &mut hosts {
                        let _ = host.write(b"host data");
                        let mut buf = [0u8; 1024];
                        let _ = host.read(&mut buf);
                    }
                    ctx.run();
                }
                3 if hosts.len() > 2 => {
                    hosts.remove(0);
                    ctx.run();
                }
                _ => {}
            }
            while ctx.queues[rx].next_used().is_some() {
                rx_outstanding -= 1;
            }
        }
        assert!(ctx.connections() <= crate::vsock::MAX_CONNECTIONS);
        // The traffic did open connections now and then.
        assert!(accepted > 0);
    }

    #[test]
    fn head_indexes_past_the_queue_are_skipped() {
        let mut ctx = TestContext::active();
        for index in [crate::vsock::TX_QUEUE, crate::vsock::RX_QUEUE] {
            ctx.queues[index].make_available(200);
            ctx.queues[index].make_available(u16::MAX);
        }
        ctx.kick(crate::vsock::RX_QUEUE as u32);
        // Something for the rx queue: the RST for this packet.
        ctx.send_op(op::RW, 4, 5);
        ctx.post_rx(1);
        ctx.expect(op::RST, 5, 4);
        assert_eq!(ctx.tx_used(), 1);
    }

    #[test]
    fn avail_index_far_ahead_is_ignored() {
        let mut ctx = TestContext::active();
        let tx = crate::vsock::TX_QUEUE;
        let avail = ctx.queues[tx].avail_addr();
        ctx.guest_mem
            .write_obj(1000u16, vm_memory::GuestAddress(avail + 2))
            .unwrap();
        ctx.kick(tx as u32);
        assert_eq!(ctx.tx_used(), 0);

        // The same on the rx queue, with a packet waiting for it.
        let mut ctx = TestContext::active();
        let rx = crate::vsock::RX_QUEUE;
        ctx.send_op(op::RW, 4, 5);
        let avail = ctx.queues[rx].avail_addr();
        ctx.guest_mem
            .write_obj(0x8000u16, vm_memory::GuestAddress(avail + 2))
            .unwrap();
        ctx.kick(rx as u32);
        assert!(ctx.queues[rx].next_used().is_none());
    }

    #[test]
    fn malformed_rx_chains_are_returned_empty() {
        let mut ctx = TestContext::active();
        let rx = crate::vsock::RX_QUEUE;
        let slot = ctx.queues[rx].slot_addr(0);
        // Read-only rx buffers, a header buffer that is too short, and one
        // crossing the end of memory.
        ctx.queues[rx].add_chain(&[(slot, 44, 0), (slot + 44, RX_DATA_LEN, 0)]);
        ctx.queues[rx].add_chain(&[(slot, 20, DESC_F_WRITE)]);
        ctx.queues[rx].add_chain(&[(MEM_SIZE - 10, 44, DESC_F_WRITE), (slot, 10, DESC_F_WRITE)]);
        ctx.kick(rx as u32);
        // Give the device something to send: an RST for an unknown connection.
        ctx.send_op(op::RW, 9, 9);
        for _ in 0..3 {
            let (_, len) = ctx.queues[rx].next_used().expect("returned buffer");
            assert_eq!(len, 0);
        }
        // A good buffer then carries the RST.
        ctx.post_rx(1);
        ctx.expect(op::RST, 9, 9);
    }

    #[test]
    fn invalid_cids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for cid in [0, 1, 2, u64::from(u32::MAX), u64::MAX] {
            let err = Vsock::new(cid, dir.path().join("v.sock")).unwrap_err();
            assert!(matches!(err, VsockError::InvalidCid(c) if c == cid));
        }
    }

    #[test]
    fn existing_socket_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sock");
        let first = Vsock::new(3, path.clone()).unwrap();
        assert!(matches!(
            Vsock::new(4, path.clone()),
            Err(VsockError::Bind { .. })
        ));
        // Dropping the device removes its socket file.
        drop(first);
        assert!(!path.exists());
        Vsock::new(4, path).unwrap();
    }

    #[test]
    fn config_space_holds_the_cid() {
        let dir = tempfile::tempdir().unwrap();
        let vsock = Vsock::new(0x1234_5678, dir.path().join("v.sock")).unwrap();
        assert_eq!(vsock.device_type(), device_type::VSOCK);
        assert_eq!(vsock.queue_max_sizes(), &[QUEUE_SIZE; 3]);
        assert_eq!(vsock.avail_features(), 1 << VIRTIO_F_VERSION_1);
        let mut cid = [0u8; 8];
        vsock.read_config(0, &mut cid);
        assert_eq!(u64::from_le_bytes(cid), 0x1234_5678);
        let mut low = [0u8; 4];
        vsock.read_config(0, &mut low);
        assert_eq!(u32::from_le_bytes(low), 0x1234_5678);
        let mut past = [0xffu8; 4];
        vsock.read_config(6, &mut past);
        assert_eq!(past, [0, 0, 0, 0]);
        vsock.read_config(u64::MAX, &mut past);
        assert_eq!(past, [0, 0, 0, 0]);
    }

    #[test]
    fn activation_needs_three_ready_queues() {
        let ctx = TestContext::new();
        let mut vsock = ctx.vsock.lock().unwrap();
        let interrupt = Arc::new(Interrupt::new().unwrap());
        let evts = || {
            (0..3)
                .map(|_| EventFd::new(EFD_NONBLOCK).unwrap())
                .collect::<Vec<_>>()
        };
        let active = |queues| ActiveState {
            mem: ctx.mem.clone(),
            interrupt: interrupt.clone(),
            queues,
            queue_evts: evts(),
            acked_features: 1 << VIRTIO_F_VERSION_1,
        };
        let err = vsock.activate(active(Vec::new())).unwrap_err();
        assert!(matches!(err, VirtioError::QueueCount { .. }));
        let queues = (0..3).map(|_| Queue::new(16).unwrap()).collect();
        let err = vsock.activate(active(queues)).unwrap_err();
        assert!(matches!(err, VirtioError::InvalidQueue(0)));
        assert!(vsock.activation.active.is_none());
        assert_eq!(vsock.cid(), GUEST_CID);
        assert_eq!(vsock.uds_path(), ctx.uds_path);
    }
}
