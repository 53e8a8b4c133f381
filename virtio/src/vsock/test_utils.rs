//! A mock guest for the vsock tests: guest memory, a driver that brings the
//! device up through the virtio-mmio registers and drives its queues, and
//! the VMM's event loop.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use tempfile::TempDir;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::{AvailRing, DescriptorTable, UsedRing};
use vm_memory::{Bytes, GuestAddress};

use super::{op, SocketPath, Vsock, VSOCK_HOST_CID, VSOCK_TYPE_STREAM};
use crate::mmio::reg;
use crate::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use crate::{GuestMemory, MmioTransport, VirtioDevice};

/// The CID of the mock guest.
pub(crate) const GUEST_CID: u64 = 3;
/// Guest RAM size.
pub(crate) const MEM_SIZE: u64 = 0x100_0000;
/// Size the mock driver gives each queue.
pub(crate) const TEST_QUEUE_SIZE: u16 = 16;
/// Where each queue's rings are.
const QUEUE_BASES: [u64; 3] = [0x1_0000, 0x2_0000, 0x3_0000];
const AVAIL_OFFSET: u64 = 0x1000;
const USED_OFFSET: u64 = 0x2000;
/// Each descriptor index of each queue owns a buffer of this size from here.
const BUF_BASE: u64 = 0x10_0000;
const BUF_SLOT: u64 = 0x2_0000;
/// Data buffer size of the rx chains the mock driver posts.
pub(crate) const RX_DATA_LEN: u32 = 4096;
/// What the mock guest advertises as its buffer space.
pub(crate) const GUEST_BUF_ALLOC: u32 = 64 * 1024;

/// Descriptor flags.
pub(crate) const DESC_F_NEXT: u16 = 1;
pub(crate) const DESC_F_WRITE: u16 = 2;

/// A packet header as plain fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TestHeader {
    pub src_cid: u64,
    pub dst_cid: u64,
    pub src_port: u32,
    pub dst_port: u32,
    pub len: u32,
    pub type_: u16,
    pub op: u16,
    pub flags: u32,
    pub buf_alloc: u32,
    pub fwd_cnt: u32,
}

impl TestHeader {
    /// A stream packet from the guest's `src_port` to host port `dst_port`.
    pub(crate) fn guest(op: u16, src_port: u32, dst_port: u32) -> Self {
        Self {
            src_cid: GUEST_CID,
            dst_cid: VSOCK_HOST_CID,
            src_port,
            dst_port,
            type_: VSOCK_TYPE_STREAM,
            op,
            buf_alloc: GUEST_BUF_ALLOC,
            ..Self::default()
        }
    }

    pub(crate) fn to_bytes(self) -> [u8; 44] {
        let mut b = [0u8; 44];
        b[0..8].copy_from_slice(&self.src_cid.to_le_bytes());
        b[8..16].copy_from_slice(&self.dst_cid.to_le_bytes());
        b[16..20].copy_from_slice(&self.src_port.to_le_bytes());
        b[20..24].copy_from_slice(&self.dst_port.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..30].copy_from_slice(&self.type_.to_le_bytes());
        b[30..32].copy_from_slice(&self.op.to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b[36..40].copy_from_slice(&self.buf_alloc.to_le_bytes());
        b[40..44].copy_from_slice(&self.fwd_cnt.to_le_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8; 44]) -> Self {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap());
        Self {
            src_cid: u64_at(0),
            dst_cid: u64_at(8),
            src_port: u32_at(16),
            dst_port: u32_at(20),
            len: u32_at(24),
            type_: u16_at(28),
            op: u16_at(30),
            flags: u32_at(32),
            buf_alloc: u32_at(36),
            fwd_cnt: u32_at(40),
        }
    }
}

/// The driver side of one split queue.
pub(crate) struct GuestQueue {
    desc_table: DescriptorTable<'static, GuestMemory>,
    avail: AvailRing<'static, GuestMemory>,
    used: UsedRing<'static, GuestMemory>,
    index: u64,
    next_desc: u16,
    used_seen: u16,
}

impl GuestQueue {
    pub(crate) fn new(mem: &'static GuestMemory, index: usize) -> Self {
        let base = QUEUE_BASES[index];
        Self {
            desc_table: DescriptorTable::new(mem, GuestAddress(base), TEST_QUEUE_SIZE),
            avail: AvailRing::new(mem, GuestAddress(base + AVAIL_OFFSET), TEST_QUEUE_SIZE),
            used: UsedRing::new(mem, GuestAddress(base + USED_OFFSET), TEST_QUEUE_SIZE),
            index: index as u64,
            next_desc: 0,
            used_seen: 0,
        }
    }

    /// Where the descriptor table, avail ring and used ring are.
    pub(crate) fn ring_addrs(&self) -> (u64, u64, u64) {
        let base = QUEUE_BASES[self.index as usize];
        (base, base + AVAIL_OFFSET, base + USED_OFFSET)
    }

    /// Where the avail ring is.
    pub(crate) fn avail_addr(&self) -> u64 {
        self.ring_addrs().1
    }

    /// The buffer owned by descriptor `desc`.
    pub(crate) fn slot_addr(&self, desc: u16) -> u64 {
        BUF_BASE + (self.index * u64::from(TEST_QUEUE_SIZE) + u64::from(desc)) * BUF_SLOT
    }

    /// The descriptor index the `n`th next descriptor will get.
    pub(crate) fn peek_desc(&self, n: u16) -> u16 {
        (self.next_desc + n) % TEST_QUEUE_SIZE
    }

    /// Makes a chain of `(addr, len, flags)` available; NEXT links are added.
    pub(crate) fn add_chain(&mut self, descs: &[(u64, u32, u16)]) -> u16 {
        let ids: Vec<u16> = (0..descs.len() as u16).map(|i| self.peek_desc(i)).collect();
        self.next_desc = self.peek_desc(descs.len() as u16);
        for (i, &(addr, len, flags)) in descs.iter().enumerate() {
            let (flags, next) = match ids.get(i + 1) {
                Some(&next) => (flags | DESC_F_NEXT, next),
                None => (flags, 0),
            };
            self.store_desc(ids[i], addr, len, flags, next);
        }
        self.make_available(ids[0]);
        ids[0]
    }

    /// Writes one raw descriptor.
    pub(crate) fn store_desc(&self, id: u16, addr: u64, len: u32, flags: u16, next: u16) {
        self.desc_table
            .store(
                id,
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next)),
            )
            .unwrap();
    }

    /// Puts descriptor `head` on the avail ring.
    pub(crate) fn make_available(&self, head: u16) {
        let idx = self.avail.idx().load();
        self.avail
            .ring()
            .ref_at(usize::from(idx % TEST_QUEUE_SIZE))
            .unwrap()
            .store(head);
        self.avail.idx().store(idx.wrapping_add(1));
    }

    /// The next used element, if any: (descriptor id, used length).
    pub(crate) fn next_used(&mut self) -> Option<(u16, u32)> {
        if self.used.idx().load() == self.used_seen {
            return None;
        }
        let elem = self
            .used
            .ring()
            .ref_at(usize::from(self.used_seen % TEST_QUEUE_SIZE))
            .unwrap()
            .load();
        self.used_seen = self.used_seen.wrapping_add(1);
        let id = u16::try_from(elem.id()).expect("a used id within the queue");
        Some((id, elem.len()))
    }
}

/// How the VMM hands the device to its event loop.
type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// A vsock device behind a transport, a mock guest driver, and an event loop.
pub(crate) struct TestContext {
    pub(crate) mem: GuestMemory,
    pub(crate) guest_mem: &'static GuestMemory,
    pub(crate) uds_path: PathBuf,
    pub(crate) vsock: Arc<Mutex<Vsock>>,
    pub(crate) transport: MmioTransport,
    /// The event loop, when the test runs it; `None` when it runs on its own
    /// thread as in the VMM.
    event_manager: Option<EventManager<Subscriber>>,
    event_thread: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    pub(crate) queues: Vec<GuestQueue>,
    // Kept last: removed after the device dropped its socket.
    _dir: TempDir,
}

impl TestContext {
    /// Sets everything up the way the VMM does; the device is not active
    /// yet, and the test runs the event loop.
    pub(crate) fn new() -> Self {
        Self::build(false)
    }

    /// Like [`TestContext::new`], with the event loop on its own thread.
    pub(crate) fn with_event_thread() -> Self {
        Self::build(true)
    }

    fn build(threaded: bool) -> Self {
        let mem = GuestMemory::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).unwrap();
        // The mock queues borrow the memory for the whole test.
        let guest_mem: &'static GuestMemory = Box::leak(Box::new(mem.clone()));
        let dir = TempDir::new().unwrap();
        // Deeper than a socket address can name: the device must not care.
        let deep = dir.path().join("d".repeat(100)).join("e".repeat(100));
        std::fs::create_dir_all(&deep).unwrap();
        let uds_path = deep.join("vsock.sock");

        // What the VMM does: one Arc, two trait-object views.
        let vsock = Arc::new(Mutex::new(Vsock::new(GUEST_CID, uds_path.clone()).unwrap()));
        let device: Arc<Mutex<dyn VirtioDevice>> = vsock.clone();
        let subscriber: Subscriber = vsock.clone();
        let transport = MmioTransport::new(mem.clone(), device).unwrap();
        let (event_manager, event_thread) = if threaded {
            let stop = Arc::new(AtomicBool::new(false));
            let thread_stop = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut event_manager = EventManager::<Subscriber>::new().unwrap();
                event_manager.add_subscriber(subscriber);
                while !thread_stop.load(Ordering::Relaxed) {
                    event_manager.run_with_timeout(10).unwrap();
                }
            });
            (None, Some((stop, thread)))
        } else {
            let mut event_manager = EventManager::new().unwrap();
            event_manager.add_subscriber(subscriber);
            (Some(event_manager), None)
        };

        let queues = (0..3).map(|i| GuestQueue::new(guest_mem, i)).collect();
        Self {
            mem,
            guest_mem,
            uds_path,
            vsock,
            transport,
            event_manager,
            event_thread,
            queues,
            _dir: dir,
        }
    }

    /// A context whose device the mock driver has brought up.
    pub(crate) fn active() -> Self {
        let mut ctx = Self::new();
        ctx.activate();
        ctx
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        self.transport.write(offset, &value.to_le_bytes());
    }

    pub(crate) fn read_reg(&mut self, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        self.transport.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// Does what the Linux virtio-mmio and vsock drivers do at probe.
    pub(crate) fn activate(&mut self) {
        assert_eq!(self.read_reg(reg::DEVICE_ID), crate::device_type::VSOCK);
        let mut cid = [0u8; 8];
        self.write_reg(reg::STATUS, ACKNOWLEDGE);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        self.write_reg(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.read_reg(reg::DEVICE_FEATURES);
        self.write_reg(reg::DRIVER_FEATURES_SEL, 1);
        self.write_reg(reg::DRIVER_FEATURES, high);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_eq!(
            self.read_reg(reg::STATUS),
            ACKNOWLEDGE | DRIVER | FEATURES_OK
        );
        self.transport.read(reg::CONFIG_SPACE, &mut cid);
        assert_eq!(u64::from_le_bytes(cid), GUEST_CID);
        for index in 0..3u32 {
            let (desc, avail, used) = self.queues[index as usize].ring_addrs();
            self.write_reg(reg::QUEUE_SEL, index);
            assert!(self.read_reg(reg::QUEUE_NUM_MAX) >= u32::from(TEST_QUEUE_SIZE));
            self.write_reg(reg::QUEUE_NUM, u32::from(TEST_QUEUE_SIZE));
            self.write_reg(reg::QUEUE_DESC_LOW, desc as u32);
            self.write_reg(reg::QUEUE_DESC_HIGH, (desc >> 32) as u32);
            self.write_reg(reg::QUEUE_AVAIL_LOW, avail as u32);
            self.write_reg(reg::QUEUE_AVAIL_HIGH, (avail >> 32) as u32);
            self.write_reg(reg::QUEUE_USED_LOW, used as u32);
            self.write_reg(reg::QUEUE_USED_HIGH, (used >> 32) as u32);
            self.write_reg(reg::QUEUE_READY, 1);
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_eq!(
            self.read_reg(reg::STATUS),
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
        );
        self.run();
    }

    /// Runs the event loop until nothing is ready; fails the test if it
    /// never settles (a busy loop).
    pub(crate) fn run(&mut self) {
        let Some(event_manager) = self.event_manager.as_mut() else {
            // The event thread does the work; give it a moment.
            std::thread::sleep(std::time::Duration::from_millis(20));
            return;
        };
        for _ in 0..1000 {
            if event_manager.run_with_timeout(0).unwrap() == 0 {
                return;
            }
        }
        panic!("the event loop does not settle");
    }

    /// Waits (up to 5 s) for the next packet on the rx queue.
    pub(crate) fn recv_wait(&mut self) -> (TestHeader, Vec<u8>) {
        for _ in 0..500 {
            if let Some(packet) = self.recv() {
                return packet;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no packet on the rx queue");
    }

    /// Notifies queue `index` the way the guest does (QueueNotify).
    pub(crate) fn kick(&mut self, index: u32) {
        self.write_reg(reg::QUEUE_NOTIFY, index);
        self.run();
    }

    /// Sends a packet on the tx queue (header and data in two descriptors).
    pub(crate) fn send(&mut self, hdr: TestHeader, data: &[u8]) {
        let q = &mut self.queues[super::TX_QUEUE];
        let hdr_addr = q.slot_addr(q.peek_desc(0));
        self.guest_mem
            .write_slice(&hdr.to_bytes(), GuestAddress(hdr_addr))
            .unwrap();
        if data.is_empty() {
            q.add_chain(&[(hdr_addr, 44, 0)]);
        } else {
            let data_addr = q.slot_addr(q.peek_desc(1));
            self.guest_mem
                .write_slice(data, GuestAddress(data_addr))
                .unwrap();
            q.add_chain(&[(hdr_addr, 44, 0), (data_addr, data.len() as u32, 0)]);
        }
        self.kick(super::TX_QUEUE as u32);
    }

    /// Sends a control packet (no data) from the guest.
    pub(crate) fn send_op(&mut self, op: u16, src_port: u32, dst_port: u32) {
        self.send(TestHeader::guest(op, src_port, dst_port), &[]);
    }

    /// Sends data from the guest.
    pub(crate) fn send_data(&mut self, src_port: u32, dst_port: u32, data: &[u8]) {
        let mut hdr = TestHeader::guest(op::RW, src_port, dst_port);
        hdr.len = data.len() as u32;
        self.send(hdr, data);
    }

    /// Posts `n` rx buffers (header + RX_DATA_LEN bytes) without a kick.
    pub(crate) fn add_rx_buffers(&mut self, n: usize) {
        for _ in 0..n {
            let q = &mut self.queues[super::RX_QUEUE];
            let hdr_addr = q.slot_addr(q.peek_desc(0));
            let data_addr = q.slot_addr(q.peek_desc(1));
            q.add_chain(&[
                (hdr_addr, 44, DESC_F_WRITE),
                (data_addr, RX_DATA_LEN, DESC_F_WRITE),
            ]);
        }
    }

    /// Posts rx buffers and kicks the rx queue.
    pub(crate) fn post_rx(&mut self, n: usize) {
        self.add_rx_buffers(n);
        self.kick(super::RX_QUEUE as u32);
    }

    /// The next packet the device put in the rx queue.
    pub(crate) fn recv(&mut self) -> Option<(TestHeader, Vec<u8>)> {
        let q = &mut self.queues[super::RX_QUEUE];
        let (id, used_len) = q.next_used()?;
        let mut raw = [0u8; 44];
        self.guest_mem
            .read_slice(&mut raw, GuestAddress(q.slot_addr(id)))
            .unwrap();
        let hdr = TestHeader::from_bytes(&raw);
        assert_eq!(used_len, 44 + hdr.len, "used length of {hdr:?}");
        let mut data = vec![0u8; hdr.len as usize];
        let data_addr = q.slot_addr((id + 1) % TEST_QUEUE_SIZE);
        self.guest_mem
            .read_slice(&mut data, GuestAddress(data_addr))
            .unwrap();
        Some((hdr, data))
    }

    /// Receives the next packet and checks that it goes from host port
    /// `src_port` to guest port `dst_port` with operation `op`.
    pub(crate) fn expect(
        &mut self,
        op: u16,
        src_port: u32,
        dst_port: u32,
    ) -> (TestHeader, Vec<u8>) {
        let (hdr, data) = self.recv().expect("a packet on the rx queue");
        assert_eq!(
            (hdr.op, hdr.src_port, hdr.dst_port),
            (op, src_port, dst_port),
            "{hdr:?}"
        );
        assert_eq!(hdr.src_cid, VSOCK_HOST_CID);
        assert_eq!(hdr.dst_cid, GUEST_CID);
        assert_eq!(hdr.type_, VSOCK_TYPE_STREAM);
        (hdr, data)
    }

    /// The tx buffers the device returned since the last call.
    pub(crate) fn tx_used(&mut self) -> usize {
        let mut n = 0;
        while self.queues[super::TX_QUEUE].next_used().is_some() {
            n += 1;
        }
        n
    }

    /// Connects to the device's socket and asks for guest port `port`.
    pub(crate) fn host_connect(&mut self, port: u32) -> UnixStream {
        let mut stream = self.connect_uds();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        writeln!(stream, "CONNECT {port}").unwrap();
        self.run();
        stream
    }

    /// Connects to the device's socket and sends nothing.
    pub(crate) fn connect_uds(&self) -> UnixStream {
        SocketPath::new(&self.uds_path).unwrap().connect().unwrap()
    }

    /// Listens where guest connections to host port `port` are forwarded.
    pub(crate) fn host_listen(&self, port: u32) -> UnixListener {
        let socket = SocketPath::new(&self.uds_path).unwrap();
        UnixListener::bind(socket.address_with_suffix(&format!("_{port}"))).unwrap()
    }

    /// Opens a guest connection from `guest_port` to host port `host_port`
    /// (which `listener` serves), advertising `buf_alloc`; returns the host end.
    pub(crate) fn guest_connect(
        &mut self,
        listener: &UnixListener,
        guest_port: u32,
        host_port: u32,
        buf_alloc: u32,
    ) -> UnixStream {
        let mut request = TestHeader::guest(op::REQUEST, guest_port, host_port);
        request.buf_alloc = buf_alloc;
        self.send(request, &[]);
        let (response, _) = self.expect(op::RESPONSE, host_port, guest_port);
        assert_eq!(response.buf_alloc, super::CONN_TX_BUF_SIZE);
        let (host, _) = listener.accept().unwrap();
        host.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        host
    }

    /// Reads `host` to EOF, running the event loop whenever the socket is
    /// empty, as the monitor's relay does alongside it.
    pub(crate) fn read_to_eof(&mut self, host: &mut UnixStream) -> Vec<u8> {
        host.set_nonblocking(true).unwrap();
        let mut received = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        for _ in 0..10_000 {
            match host.read(&mut buf) {
                Ok(0) => return received,
                Ok(n) => received.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.run(),
                Err(e) => panic!("reading the host end: {e}"),
            }
        }
        panic!("no EOF after {} bytes", received.len());
    }

    /// Number of live connections in the device.
    pub(crate) fn connections(&self) -> usize {
        self.vsock.lock().unwrap().muxer.connection_count()
    }

    /// Number of connections the guest reset that still write out its
    /// last bytes.
    pub(crate) fn draining(&self) -> usize {
        self.vsock.lock().unwrap().muxer.draining_count()
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.event_thread.take() {
            stop.store(true, Ordering::Relaxed);
            thread.join().unwrap();
        }
    }
}
