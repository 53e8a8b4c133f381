//! A mock guest for the virtio-net tests: guest memory, a driver that
//! negotiates features through the virtio-mmio registers and drives both
//! queues, the VMM's event loop, and a backend that is one end of a Unix
//! datagram socket pair (frames keep their boundaries, as on a tap), the
//! test holding the other end as the host's network.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use vm_memory::{Bytes, GuestAddress};

use super::features::VIRTIO_NET_F_MRG_RXBUF;
use super::tap::ALL_OFFLOADS;
use super::{Backend, Net, RX_QUEUE, TX_QUEUE, VNET_HDR_LEN};
use crate::features::VIRTIO_F_VERSION_1;
use crate::mmio::reg;
use crate::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use crate::vsock::test_utils::{GuestQueue, DESC_F_WRITE, MEM_SIZE, TEST_QUEUE_SIZE};
use crate::{GuestMemory, MmioTransport, VirtioDevice};

/// The mock guest's MAC address and MTU.
pub(crate) const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x12, 0x34, 0x56];
pub(crate) const MTU: u16 = 1500;

/// A backend like a tap: one frame per datagram, nonblocking, with
/// offloads a tap takes (or none, like a tap without `IFF_VNET_HDR`
/// support for them).
#[derive(Debug)]
pub(crate) struct FakeTap {
    pub(crate) sock: UnixDatagram,
    takes_offloads: bool,
    /// The `TUN_F_*` flags last set.
    pub(crate) offload: u32,
}

impl FakeTap {
    /// The backend and the host's end of it.
    pub(crate) fn pair(takes_offloads: bool) -> (Self, UnixDatagram) {
        let (sock, host) = UnixDatagram::pair().unwrap();
        sock.set_nonblocking(true).unwrap();
        host.set_nonblocking(true).unwrap();
        let tap = Self {
            sock,
            takes_offloads,
            offload: 0,
        };
        (tap, host)
    }
}

impl AsRawFd for FakeTap {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Backend for FakeTap {
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf)
    }

    fn write_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.sock.send(frame)
    }

    fn set_offload(&mut self, flags: u32) -> io::Result<()> {
        // As the kernel: segmentation needs checksum offload.
        let tso_without_csum = flags & !libc::TUN_F_CSUM != 0 && flags & libc::TUN_F_CSUM == 0;
        if (!self.takes_offloads && flags != 0) || flags & !ALL_OFFLOADS != 0 || tso_without_csum {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.offload = flags;
        Ok(())
    }
}

type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// A net device behind a transport, a mock driver, an event loop, and the
/// host's end of the backend.
pub(crate) struct TestGuest {
    pub(crate) mem: &'static GuestMemory,
    pub(crate) net: Arc<Mutex<Net<FakeTap>>>,
    pub(crate) transport: MmioTransport,
    event_manager: EventManager<Subscriber>,
    pub(crate) queues: Vec<GuestQueue>,
    /// The host's network: what it reads the guest sent, what it sends
    /// reaches the guest.
    pub(crate) host: UnixDatagram,
}

impl TestGuest {
    /// A device whose backend takes offloads (or not), not yet activated.
    pub(crate) fn new(takes_offloads: bool) -> Self {
        let mem = GuestMemory::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).unwrap();
        // The mock queues borrow the memory for the whole test.
        let mem: &'static GuestMemory = Box::leak(Box::new(mem));
        let (tap, host) = FakeTap::pair(takes_offloads);
        let net = Arc::new(Mutex::new(Net::new(tap, MAC, MTU).unwrap()));
        let device: Arc<Mutex<dyn VirtioDevice>> = net.clone();
        let subscriber: Subscriber = net.clone();
        let transport = MmioTransport::new(mem.clone(), device).unwrap();
        let mut event_manager = EventManager::new().unwrap();
        event_manager.add_subscriber(subscriber);
        let queues = (0..2).map(|i| GuestQueue::new(mem, i)).collect();
        Self {
            mem,
            net,
            transport,
            event_manager,
            queues,
            host,
        }
    }

    /// A device the driver brought up with mergeable rx buffers and no
    /// offloads.
    pub(crate) fn active() -> Self {
        let mut guest = Self::new(true);
        guest.activate(1 << VIRTIO_F_VERSION_1 | 1 << VIRTIO_NET_F_MRG_RXBUF);
        guest
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        self.transport.write_reg(offset, value);
    }

    fn read_reg(&mut self, offset: u64) -> u32 {
        self.transport.read_reg(offset)
    }

    /// The features the device offers.
    pub(crate) fn device_features(&mut self) -> u64 {
        self.write_reg(reg::DEVICE_FEATURES_SEL, 0);
        let low = self.read_reg(reg::DEVICE_FEATURES);
        self.write_reg(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.read_reg(reg::DEVICE_FEATURES);
        u64::from(high) << 32 | u64::from(low)
    }

    /// Does what the Linux driver does at probe, accepting `features`.
    pub(crate) fn activate(&mut self, features: u64) {
        self.write_reg(reg::STATUS, ACKNOWLEDGE);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        for sel in 0..2u32 {
            self.write_reg(reg::DRIVER_FEATURES_SEL, sel);
            let half = (features >> (32 * sel)) & 0xffff_ffff;
            self.write_reg(reg::DRIVER_FEATURES, u32::try_from(half).unwrap());
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        assert_eq!(
            self.read_reg(reg::STATUS) & FEATURES_OK,
            FEATURES_OK,
            "features {features:#x} refused"
        );
        for index in 0..2u32 {
            let rings = self.queues[index as usize].ring_addrs();
            self.transport
                .set_up_queue(index, u32::from(TEST_QUEUE_SIZE), rings);
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_ne!(self.read_reg(reg::STATUS) & DRIVER_OK, 0);
        self.run();
    }

    /// Resets the device, as a driver writing 0 to Status.
    pub(crate) fn reset(&mut self) {
        self.write_reg(reg::STATUS, 0);
        self.run();
    }

    /// Runs the event loop until nothing is ready; fails the test if it
    /// never settles (a busy loop).
    pub(crate) fn run(&mut self) {
        for _ in 0..1000 {
            if self.event_manager.run_with_timeout(0).unwrap() == 0 {
                return;
            }
        }
        panic!("the event loop does not settle");
    }

    /// Notifies queue `index` (QueueNotify) and runs the event loop.
    pub(crate) fn kick(&mut self, index: usize) {
        self.write_reg(reg::QUEUE_NOTIFY, u32::try_from(index).unwrap());
        self.run();
    }

    /// Puts `bytes` in guest memory at `addr`.
    pub(crate) fn write(&self, addr: u64, bytes: &[u8]) {
        self.mem.write_slice(bytes, GuestAddress(addr)).unwrap();
    }

    /// `len` bytes of guest memory at `addr`.
    pub(crate) fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.mem.read_slice(&mut bytes, GuestAddress(addr)).unwrap();
        bytes
    }

    /// Makes a tx chain of `(addr, len, flags)` available and kicks.
    pub(crate) fn send_chain(&mut self, descs: &[(u64, u32, u16)]) {
        self.queues[TX_QUEUE].add_chain(descs);
        self.kick(TX_QUEUE);
    }

    /// Sends `frame` behind a zero header, split over two descriptors.
    pub(crate) fn send(&mut self, frame: &[u8]) {
        let q = &self.queues[TX_QUEUE];
        let (hdr, data) = (q.slot_addr(q.peek_desc(0)), q.slot_addr(q.peek_desc(1)));
        self.write(hdr, &[0; VNET_HDR_LEN]);
        self.write(data, frame);
        let len = u32::try_from(frame.len()).unwrap();
        self.send_chain(&[(hdr, VNET_HDR_LEN as u32, 0), (data, len, 0)]);
    }

    /// Posts `n` rx chains of one `len`-byte device-writable buffer each,
    /// without a kick; returns their heads.
    pub(crate) fn post_rx(&mut self, n: usize, len: u32) -> Vec<u16> {
        let q = &mut self.queues[RX_QUEUE];
        (0..n)
            .map(|_| {
                let addr = q.slot_addr(q.peek_desc(0));
                q.add_chain(&[(addr, len, DESC_F_WRITE)])
            })
            .collect()
    }

    /// The (head, length) of every buffer used on queue `index` since the
    /// last call.
    pub(crate) fn used(&mut self, index: usize) -> Vec<(u16, u32)> {
        std::iter::from_fn(|| self.queues[index].next_used()).collect()
    }

    /// The host sends `frame` (header included) to the guest.
    pub(crate) fn host_send(&mut self, frame: &[u8]) {
        self.host.send(frame).unwrap();
    }

    /// The next frame the guest sent, if any (header included).
    pub(crate) fn host_recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0; 70_000];
        let len = self.host.recv(&mut buf).ok()?;
        buf.truncate(len);
        Some(buf)
    }
}
