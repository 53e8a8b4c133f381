//! The virtio-net device: config space, feature negotiation, and moving
//! frames between the queues and the backend.

use std::io;

use tracing::warn;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::{DescriptorChain, Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress};

use super::features::*;
use super::tap::ALL_OFFLOADS;
use super::{
    Backend, NetError, Tap, MAX_FRAME_LEN, MIN_MTU, NUM_QUEUES, QUEUE_SIZE, RX_QUEUE, TX_QUEUE,
    VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4,
    VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP, VIRTIO_NET_S_LINK_UP, VNET_HDR_LEN,
};
use crate::activation::{avail_idx_is_sane, Activation, ActiveState};
use crate::features::VIRTIO_F_VERSION_1;
use crate::{device_type, GuestMemory, VirtioDevice, VirtioError};

/// Where `num_buffers` is in the header.
const NUM_BUFFERS_OFFSET: usize = 10;
/// A header and the largest frame.
const BUFFER_LEN: usize = VNET_HDR_LEN + MAX_FRAME_LEN;

/// Offloads offered when the backend can do them: the guest may send and
/// receive partial checksums and TSO/UFO frames.
const OFFLOAD_FEATURES: [u32; 8] = [
    VIRTIO_NET_F_CSUM,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_GUEST_TSO4,
    VIRTIO_NET_F_GUEST_TSO6,
    VIRTIO_NET_F_GUEST_UFO,
    VIRTIO_NET_F_HOST_TSO4,
    VIRTIO_NET_F_HOST_TSO6,
    VIRTIO_NET_F_HOST_UFO,
];

/// Problems caused by the guest or the backend, each logged once per
/// device.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum Warning {
    BadTxChain = 1,
    BadRxChain = 1 << 1,
    UsedRing = 1 << 2,
    Interrupt = 1 << 3,
    AvailIndex = 1 << 4,
    BadHeadIndex = 1 << 5,
    BackendWrite = 1 << 6,
    BackendRead = 1 << 7,
    RxDropped = 1 << 8,
    Offload = 1 << 9,
}

impl Warning {
    fn text(self) -> &'static str {
        match self {
            Warning::BadTxChain => "dropped a malformed or oversized tx descriptor chain",
            Warning::BadRxChain => "returned a malformed rx descriptor chain unused",
            Warning::UsedRing => "cannot write the used ring",
            Warning::Interrupt => "cannot signal the guest",
            Warning::AvailIndex => "the avail index is past a queue's worth",
            Warning::BadHeadIndex => "skipped a descriptor index past the queue",
            Warning::BackendWrite => "the tap refused a frame",
            Warning::BackendRead => "cannot read the tap; it is no longer polled",
            Warning::RxDropped => "dropped a frame the guest's buffers or features do not fit",
            Warning::Offload => "cannot set the tap's offloads",
        }
    }
}

/// How handing one frame to the guest went.
enum Delivery {
    /// In the guest's buffers.
    Done,
    /// Not enough buffers yet: the frame waits for more.
    NoBuffers,
    /// It can never fit: dropped.
    TooBig,
    /// The used ring cannot be written: stop.
    QueueBroken,
}

/// A virtio-net device whose host side is `B`, a [`Tap`] in the VMM.
///
/// Wired like the other devices: one `Arc<Mutex<Net>>` handed to the
/// VMM's `EventManager` (which serves the queues and polls the tap) and to
/// a [`crate::MmioTransport`].
#[derive(Debug)]
pub struct Net<B: Backend = Tap> {
    pub(crate) backend: B,
    mac: [u8; 6],
    mtu: u16,
    avail_features: u64,
    queue_max_sizes: [u16; NUM_QUEUES],
    pub(crate) activation: Activation,
    /// A frame read from the backend (header included)...
    rx_buf: Vec<u8>,
    /// ...of this length, not yet in the guest's buffers; 0 for none.
    rx_pending: usize,
    /// The guest had no buffers for `rx_pending`: the backend is not read
    /// until it posts some.
    pub(crate) rx_waiting: bool,
    /// Reading the backend failed; it is not read until the next
    /// activation.
    backend_failed: bool,
    /// Whether the backend's fd is in the event loop's poll set.
    pub(crate) backend_polled: bool,
    /// Where a tx frame is gathered.
    tx_buf: Vec<u8>,
    /// The guest's rx chains that hold the current frame: (head, bytes).
    rx_chains: Vec<(u16, u32)>,
    /// Frames from the backend the guest did not get.
    pub(crate) rx_dropped: u64,
    /// Frames from the guest the backend did not get.
    pub(crate) tx_dropped: u64,
    warned: u32,
}

/// The guest's config space (virtio 1.2, section 5.1.4): `mac`, `status`,
/// `max_virtqueue_pairs`, `mtu`, all little-endian.
fn config_space(mac: [u8; 6], mtu: u16) -> [u8; 12] {
    let mut config = [0u8; 12];
    config[..6].copy_from_slice(&mac);
    config[6..8].copy_from_slice(&VIRTIO_NET_S_LINK_UP.to_le_bytes());
    config[8..10].copy_from_slice(&1u16.to_le_bytes());
    config[10..12].copy_from_slice(&mtu.to_le_bytes());
    config
}

fn has(features: u64, bit: u32) -> bool {
    features & (1 << bit) != 0
}

/// The tap offloads (`TUN_F_*`) that match the features the driver took.
fn tap_offloads(acked: u64) -> u32 {
    // The kernel refuses segmentation without checksum offload.
    if !has(acked, VIRTIO_NET_F_GUEST_CSUM) {
        return 0;
    }
    [
        (VIRTIO_NET_F_GUEST_TSO4, libc::TUN_F_TSO4),
        (VIRTIO_NET_F_GUEST_TSO6, libc::TUN_F_TSO6),
        (VIRTIO_NET_F_GUEST_UFO, libc::TUN_F_UFO),
    ]
    .into_iter()
    .filter(|(bit, _)| has(acked, *bit))
    .fold(libc::TUN_F_CSUM, |flags, (_, tun)| flags | tun)
}

/// Whether a frame with header `hdr` may go to a driver that took
/// `acked`; clears what the driver does not know about. A frame asking for
/// an offload the driver did not take (the backend queued it before its
/// offloads were narrowed) may not.
fn fit_header(hdr: &mut [u8], acked: u64) -> bool {
    let (Some(&flags), Some(&gso_type)) = (hdr.first(), hdr.get(1)) else {
        return false;
    };
    let gso_ok = match gso_type {
        VIRTIO_NET_HDR_GSO_NONE => true,
        VIRTIO_NET_HDR_GSO_TCPV4 => has(acked, VIRTIO_NET_F_GUEST_TSO4),
        VIRTIO_NET_HDR_GSO_TCPV6 => has(acked, VIRTIO_NET_F_GUEST_TSO6),
        VIRTIO_NET_HDR_GSO_UDP => has(acked, VIRTIO_NET_F_GUEST_UFO),
        // ECN and anything newer: never offered.
        _ => false,
    };
    if !gso_ok {
        return false;
    }
    if !has(acked, VIRTIO_NET_F_GUEST_CSUM) {
        if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
            return false;
        }
        // Without GUEST_CSUM the flags must be 0 (DATA_VALID is a hint).
        if let Some(flags) = hdr.first_mut() {
            *flags = 0;
        }
    }
    true
}

/// Copies the device-readable buffers of a tx `chain` into `buf`; `None`
/// if a buffer is device-writable, outside guest memory, the whole does
/// not fit `buf`, or the chain is cut short (see [`cut_short`]).
fn gather(
    mem: &GuestMemory,
    chain: DescriptorChain<&GuestMemory>,
    buf: &mut [u8],
) -> Option<usize> {
    let mut len: usize = 0;
    let mut more = false;
    for desc in chain {
        if desc.is_write_only() {
            return None;
        }
        let end = len.checked_add(usize::try_from(desc.len()).ok()?)?;
        mem.read_slice(buf.get_mut(len..end)?, desc.addr()).ok()?;
        len = end;
        more = cut_short(&desc);
    }
    (!more).then_some(len)
}

/// Whether the walk of a chain ended at `last` although it says more
/// follows: virtio-queue stops a walk at a loop (after a queue's worth of
/// descriptors), at a next index past the queue, or at a bad indirect
/// table, and such a chain is malformed.
fn cut_short(last: &Descriptor) -> bool {
    last.has_next()
}

/// Copies the start of `data` into the device-writable buffers of an rx
/// `chain`; returns how much it took, or `None` if a buffer it reached is
/// device-readable or outside guest memory, or the chain was cut short
/// before `data` ran out. If `hdr_at` is given, it gets
/// where `data[NUM_BUFFERS_OFFSET..][..2]` went.
fn scatter(
    mem: &GuestMemory,
    chain: DescriptorChain<&GuestMemory>,
    data: &[u8],
    mut hdr_at: Option<&mut [Option<GuestAddress>; 2]>,
) -> Option<usize> {
    let mut taken: usize = 0;
    let mut more = false;
    for desc in chain {
        if taken == data.len() {
            return Some(taken);
        }
        if !desc.is_write_only() {
            return None;
        }
        let len = usize::try_from(desc.len()).ok()?.min(data.len() - taken);
        let end = taken.checked_add(len)?;
        mem.write_slice(data.get(taken..end)?, desc.addr()).ok()?;
        if let Some(at) = hdr_at.as_deref_mut() {
            for (i, slot) in at.iter_mut().enumerate() {
                let offset = NUM_BUFFERS_OFFSET + i;
                if (taken..end).contains(&offset) {
                    let delta = u64::try_from(offset - taken).ok()?;
                    *slot = desc.addr().0.checked_add(delta).map(GuestAddress);
                }
            }
        }
        taken = end;
        more = cut_short(&desc);
    }
    (!more).then_some(taken)
}

/// Returns the chains of `chains` to the guest with nothing in them.
fn return_unused(queue: &mut Queue, mem: &GuestMemory, chains: &mut Vec<(u16, u32)>) -> bool {
    chains
        .drain(..)
        .all(|(head, _)| queue.add_used(mem, head, 0).is_ok())
}

/// Puts `frame` (header first) in the guest's rx buffers: one chain, or
/// with `mergeable` as many as it takes (`num_buffers` set). `chains` is
/// scratch space. Chains the guest got wrong are returned unused.
fn deliver(
    queue: &mut Queue,
    mem: &GuestMemory,
    frame: &mut [u8],
    mergeable: bool,
    chains: &mut Vec<(u16, u32)>,
    warnings: &mut u32,
) -> Delivery {
    chains.clear();
    let mut written: usize = 0;
    let mut hdr_at = [None; 2];
    if let Some(num_buffers) = frame.get_mut(NUM_BUFFERS_OFFSET..VNET_HDR_LEN) {
        num_buffers.copy_from_slice(&1u16.to_le_bytes());
    }
    let rewind = |queue: &mut Queue, chains: &mut Vec<(u16, u32)>| {
        for _ in chains.drain(..) {
            queue.go_to_previous_position();
        }
    };
    while written < frame.len() {
        if chains.len() >= usize::from(queue.size()) {
            // Every buffer the queue can hold is not enough.
            rewind(queue, chains);
            return Delivery::TooBig;
        }
        if !avail_idx_is_sane(queue, mem) {
            *warnings |= Warning::AvailIndex as u32;
            rewind(queue, chains);
            return Delivery::NoBuffers;
        }
        let Some(chain) = queue.pop_descriptor_chain(mem) else {
            rewind(queue, chains);
            return Delivery::NoBuffers;
        };
        let head = chain.head_index();
        let first = chains.is_empty();
        let taken = if head >= queue.size() {
            *warnings |= Warning::BadHeadIndex as u32;
            None
        } else {
            let at = if first { Some(&mut hdr_at) } else { None };
            frame
                .get(written..)
                .and_then(|rest| scatter(mem, chain, rest, at))
                // The first chain holds the whole header; none is empty.
                .filter(|&taken| taken >= if first { VNET_HDR_LEN } else { 1 })
        };
        let Some(taken) = taken else {
            if head < queue.size() {
                *warnings |= Warning::BadRxChain as u32;
                chains.push((head, 0));
            }
            // The frame starts over in the next chain; the chains before
            // cannot be rewound past this one, so they go back unused.
            written = 0;
            if !return_unused(queue, mem, chains) {
                return Delivery::QueueBroken;
            }
            continue;
        };
        // At most a frame's length, far below u32::MAX.
        chains.push((head, u32::try_from(taken).unwrap_or(u32::MAX)));
        written += taken;
        if !mergeable && written < frame.len() {
            // One chain per frame, and this one is too small.
            rewind(queue, chains);
            return Delivery::TooBig;
        }
    }
    let count = u16::try_from(chains.len()).unwrap_or(u16::MAX);
    for (at, byte) in hdr_at.iter().zip(count.to_le_bytes()) {
        if let Some(at) = at {
            // Checked writable by scatter.
            let _ = mem.write_obj(byte, *at);
        }
    }
    for (head, len) in chains.drain(..) {
        if queue.add_used(mem, head, len).is_err() {
            return Delivery::QueueBroken;
        }
    }
    Delivery::Done
}

impl<B: Backend> Net<B> {
    /// A device on `backend` with the guest's `mac` and `mtu`. Offloads are
    /// offered if the backend takes them; it is left with none until a
    /// driver accepts some.
    pub fn new(mut backend: B, mac: [u8; 6], mtu: u16) -> Result<Self, NetError> {
        if mtu < MIN_MTU {
            return Err(NetError::Mtu(mtu));
        }
        let offloads = backend.set_offload(ALL_OFFLOADS).is_ok();
        backend.set_offload(0).map_err(NetError::Offload)?;
        let mut avail_features = [
            VIRTIO_F_VERSION_1,
            VIRTIO_NET_F_MAC,
            VIRTIO_NET_F_MTU,
            VIRTIO_NET_F_MRG_RXBUF,
            VIRTIO_NET_F_STATUS,
        ]
        .iter()
        .fold(0u64, |features, bit| features | 1 << bit);
        if offloads {
            avail_features = OFFLOAD_FEATURES
                .iter()
                .fold(avail_features, |features, bit| features | 1 << bit);
        }
        Ok(Self {
            backend,
            mac,
            mtu,
            avail_features,
            queue_max_sizes: [QUEUE_SIZE; NUM_QUEUES],
            activation: Activation::new().map_err(NetError::EventFd)?,
            rx_buf: vec![0; BUFFER_LEN],
            rx_pending: 0,
            rx_waiting: false,
            backend_failed: false,
            backend_polled: false,
            tx_buf: vec![0; BUFFER_LEN],
            rx_chains: Vec::new(),
            rx_dropped: 0,
            tx_dropped: 0,
            warned: 0,
        })
    }

    /// The guest's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The guest's MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    /// The backend the device moves frames to and from.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether the event loop should poll the backend for frames: the
    /// device is active, the guest has room, reading works.
    pub(crate) fn wants_backend(&self) -> bool {
        self.activation.active.is_some() && !self.rx_waiting && !self.backend_failed
    }

    /// On the event loop, after an activation or reset: the backend hands
    /// over only what the driver accepted, and is read again.
    pub(crate) fn activation_changed(&mut self) {
        let acked = self
            .activation
            .active
            .as_ref()
            .map_or(0, |active| active.acked_features);
        let mut warnings = 0;
        if self.backend.set_offload(tap_offloads(acked)).is_err() {
            // fit_header still keeps unaccepted frames from the guest.
            warnings |= Warning::Offload as u32;
        }
        self.backend_failed = false;
        self.warn(warnings);
    }

    /// On the event loop: the backend's fd reported an error or hang-up.
    pub(crate) fn backend_hung_up(&mut self) {
        self.backend_failed = true;
        self.warn(Warning::BackendRead as u32);
    }

    /// On the event loop: the guest posted rx buffers.
    pub(crate) fn rx_buffers_posted(&mut self) {
        self.rx_waiting = false;
    }

    fn warn(&mut self, warnings: u32) {
        for kind in [
            Warning::BadTxChain,
            Warning::BadRxChain,
            Warning::UsedRing,
            Warning::Interrupt,
            Warning::AvailIndex,
            Warning::BadHeadIndex,
            Warning::BackendWrite,
            Warning::BackendRead,
            Warning::RxDropped,
            Warning::Offload,
        ] {
            let bit = kind as u32;
            if warnings & bit != 0 && self.warned & bit == 0 {
                self.warned |= bit;
                warn!("virtio-net: {} (logged once)", kind.text());
            }
        }
    }

    /// Writes the frames the guest sent to the backend, at most a queue's
    /// worth; for the rest the device kicks its own queue.
    pub(crate) fn process_tx(&mut self) {
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mem = &active.mem;
        let Some(queue) = active.queues.get_mut(TX_QUEUE) else {
            return;
        };
        let mut warnings = 0u32;
        let mut used_any = false;
        let mut budget = queue.size();
        loop {
            if budget == 0 {
                if let Some(evt) = active.queue_evts.get(TX_QUEUE) {
                    let _ = evt.write(1);
                }
                break;
            }
            budget -= 1;
            if !avail_idx_is_sane(queue, mem) {
                warnings |= Warning::AvailIndex as u32;
                break;
            }
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            if head >= queue.size() {
                warnings |= Warning::BadHeadIndex as u32;
                continue;
            }
            match gather(mem, chain, &mut self.tx_buf) {
                Some(len) if len >= VNET_HDR_LEN => {
                    let frame = self.tx_buf.get(..len).unwrap_or_default();
                    if self.backend.write_frame(frame).is_err() {
                        self.tx_dropped += 1;
                        warnings |= Warning::BackendWrite as u32;
                    }
                }
                _ => {
                    self.tx_dropped += 1;
                    warnings |= Warning::BadTxChain as u32;
                }
            }
            // The device writes nothing into a tx chain.
            if queue.add_used(mem, head, 0).is_err() {
                warnings |= Warning::UsedRing as u32;
                break;
            }
            used_any = true;
        }
        if used_any
            && queue.needs_notification(mem).unwrap_or(true)
            && active.interrupt.signal_used_queue().is_err()
        {
            warnings |= Warning::Interrupt as u32;
        }
        self.warn(warnings);
    }

    /// Moves frames from the backend into the guest's rx buffers, at most a
    /// queue's worth. With no room left in the guest, the frame at hand
    /// waits and the backend is not read until the guest posts buffers.
    pub(crate) fn process_rx(&mut self) {
        if !self.wants_backend() {
            return;
        }
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mem = &active.mem;
        let Some(queue) = active.queues.get_mut(RX_QUEUE) else {
            return;
        };
        let acked = active.acked_features;
        let mergeable = has(acked, VIRTIO_NET_F_MRG_RXBUF);
        let mut warnings = 0u32;
        let mut used_any = false;
        for _ in 0..queue.size() {
            if self.rx_pending == 0 {
                match self.backend.read_frame(&mut self.rx_buf) {
                    // End of file: a tap never says so, a closed backend does.
                    Ok(0) => {
                        self.backend_failed = true;
                        warnings |= Warning::BackendRead as u32;
                        break;
                    }
                    Ok(len) => self.rx_pending = len,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.backend_failed = true;
                        warnings |= Warning::BackendRead as u32;
                        break;
                    }
                }
                let fits = self
                    .rx_buf
                    .get_mut(..self.rx_pending)
                    .filter(|frame| frame.len() >= VNET_HDR_LEN)
                    .is_some_and(|frame| fit_header(frame, acked));
                if !fits {
                    self.rx_pending = 0;
                    self.rx_dropped += 1;
                    warnings |= Warning::RxDropped as u32;
                    continue;
                }
            }
            let Some(frame) = self.rx_buf.get_mut(..self.rx_pending) else {
                self.rx_pending = 0;
                continue;
            };
            let returned_before = queue.next_used();
            let delivery = deliver(
                queue,
                mem,
                frame,
                mergeable,
                &mut self.rx_chains,
                &mut warnings,
            );
            used_any |= queue.next_used() != returned_before;
            match delivery {
                Delivery::Done => self.rx_pending = 0,
                Delivery::NoBuffers => {
                    self.rx_waiting = true;
                    break;
                }
                Delivery::TooBig => {
                    self.rx_pending = 0;
                    self.rx_dropped += 1;
                    warnings |= Warning::RxDropped as u32;
                }
                Delivery::QueueBroken => {
                    warnings |= Warning::UsedRing as u32;
                    break;
                }
            }
        }
        if used_any
            && queue.needs_notification(mem).unwrap_or(true)
            && active.interrupt.signal_used_queue().is_err()
        {
            warnings |= Warning::Interrupt as u32;
        }
        self.warn(warnings);
    }
}

impl<B: Backend> VirtioDevice for Net<B> {
    fn device_type(&self) -> u32 {
        device_type::NET
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_max_sizes
    }

    fn avail_features(&self) -> u64 {
        self.avail_features
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        crate::read_config_bytes(&config_space(self.mac, self.mtu), offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // Read-only: a virtio 1.x driver never writes the MAC here.
    }

    fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError> {
        self.activation.activate(active, NUM_QUEUES)
    }

    fn reset(&mut self) {
        self.activation.reset();
        self.rx_pending = 0;
        self.rx_waiting = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_utils::{FakeTap, TestGuest, MAC, MTU};
    use crate::vsock::test_utils::{DESC_F_NEXT, DESC_F_WRITE, MEM_SIZE};

    const DESC_F_INDIRECT: u16 = 4;
    const VERSION_1: u64 = 1 << VIRTIO_F_VERSION_1;
    const MRG: u64 = 1 << VIRTIO_NET_F_MRG_RXBUF;

    /// A header with `flags` and `gso_type`, the rest zero.
    fn hdr(flags: u8, gso_type: u8) -> [u8; VNET_HDR_LEN] {
        let mut hdr = [0; VNET_HDR_LEN];
        hdr[0] = flags;
        hdr[1] = gso_type;
        hdr
    }

    /// A frame of `len` bytes behind `hdr`, its bytes counting up.
    fn frame(hdr: [u8; VNET_HDR_LEN], len: usize) -> Vec<u8> {
        let mut frame = hdr.to_vec();
        frame.extend((0..len).map(|i| (i % 251) as u8));
        frame
    }

    #[test]
    fn config_space_has_the_mac_link_up_one_pair_and_the_mtu() {
        let guest = TestGuest::new(true);
        let net = guest.net.lock().unwrap();
        assert_eq!(net.device_type(), 1);
        assert_eq!(net.queue_max_sizes(), &[QUEUE_SIZE, QUEUE_SIZE]);
        let mut config = [0xffu8; 14];
        net.read_config(0, &mut config);
        assert_eq!(config[..6], MAC);
        assert_eq!(
            u16::from_le_bytes([config[6], config[7]]),
            VIRTIO_NET_S_LINK_UP
        );
        assert_eq!(u16::from_le_bytes([config[8], config[9]]), 1);
        assert_eq!(u16::from_le_bytes([config[10], config[11]]), MTU);
        assert_eq!(config[12..], [0, 0], "past the end reads as zero");
        let mut mtu = [0u8; 2];
        net.read_config(10, &mut mtu);
        assert_eq!(u16::from_le_bytes(mtu), MTU);
        assert_eq!((net.mac(), net.mtu()), (MAC, MTU));
    }

    #[test]
    fn offloads_are_offered_only_if_the_backend_takes_them() {
        let base = VERSION_1
            | MRG
            | 1 << VIRTIO_NET_F_MAC
            | 1 << VIRTIO_NET_F_MTU
            | 1 << VIRTIO_NET_F_STATUS;
        let offloads = OFFLOAD_FEATURES.iter().fold(0u64, |f, bit| f | 1 << bit);
        assert_eq!(TestGuest::new(false).device_features(), base);
        assert_eq!(TestGuest::new(true).device_features(), base | offloads);
        // The backend starts with none.
        assert_eq!(TestGuest::new(true).net.lock().unwrap().backend.offload, 0);
    }

    #[test]
    fn an_mtu_below_the_minimum_is_refused() {
        let (tap, _host) = FakeTap::pair(true);
        assert!(matches!(Net::new(tap, MAC, 67), Err(NetError::Mtu(67))));
    }

    #[test]
    fn the_tap_gets_exactly_the_offloads_the_driver_took() {
        let mut guest = TestGuest::new(true);
        guest.activate(
            VERSION_1
                | 1 << VIRTIO_NET_F_GUEST_CSUM
                | 1 << VIRTIO_NET_F_GUEST_TSO4
                | 1 << VIRTIO_NET_F_HOST_TSO6,
        );
        let offload = guest.net.lock().unwrap().backend.offload;
        assert_eq!(offload, libc::TUN_F_CSUM | libc::TUN_F_TSO4);
        guest.reset();
        assert_eq!(guest.net.lock().unwrap().backend.offload, 0);
        // TSO without checksum offload (a driver ignoring the spec's
        // dependency) gets nothing rather than a refusal.
        guest.activate(VERSION_1 | 1 << VIRTIO_NET_F_GUEST_TSO4);
        assert_eq!(guest.net.lock().unwrap().backend.offload, 0);
    }

    #[test]
    fn a_sent_frame_reaches_the_backend_in_one_write() {
        let mut guest = TestGuest::active();
        guest.send(b"an ethernet frame");
        assert_eq!(guest.used(TX_QUEUE), vec![(0, 0)]);
        let mut expected = vec![0; VNET_HDR_LEN];
        expected.extend_from_slice(b"an ethernet frame");
        assert_eq!(guest.host_recv(), Some(expected));
        assert_eq!(guest.host_recv(), None);
        assert_ne!(guest.transport.interrupt().status() & 1, 0);
    }

    #[test]
    fn a_frame_in_an_indirect_table_is_sent() {
        let mut guest = TestGuest::active();
        let sent = frame(hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0), 100);
        let q = &guest.queues[TX_QUEUE];
        let (table, data) = (q.slot_addr(0), q.slot_addr(1));
        guest.write(data, &sent);
        // Header, then the frame in two pieces.
        let entries = [
            (data, 12u32, DESC_F_NEXT, 1u16),
            (data + 12, 50, DESC_F_NEXT, 2),
            (data + 62, 50, 0, 0),
        ];
        for (i, (addr, len, flags, next)) in entries.into_iter().enumerate() {
            let mut raw = [0u8; 16];
            raw[..8].copy_from_slice(&addr.to_le_bytes());
            raw[8..12].copy_from_slice(&len.to_le_bytes());
            raw[12..14].copy_from_slice(&flags.to_le_bytes());
            raw[14..].copy_from_slice(&next.to_le_bytes());
            guest.write(table + 16 * i as u64, &raw);
        }
        guest.send_chain(&[(table, 48, DESC_F_INDIRECT)]);
        assert_eq!(guest.host_recv(), Some(sent));
    }

    #[test]
    fn malformed_tx_chains_are_returned_and_counted() {
        let mut guest = TestGuest::active();
        let addr = guest.queues[TX_QUEUE].slot_addr(0);
        guest.write(addr, &frame(hdr(0, 0), 64));
        // A device-writable buffer.
        guest.send_chain(&[(addr, 76, DESC_F_WRITE)]);
        // Shorter than the header.
        guest.send_chain(&[(addr, 11, 0)]);
        // Past the end of guest memory.
        guest.send_chain(&[(addr, 12, 0), (MEM_SIZE - 8, 64, 0)]);
        // Bigger than a header and the largest frame.
        guest.send_chain(&[(addr, 40_000, 0), (addr, 40_000, 0)]);
        assert_eq!(guest.host_recv(), None);
        assert_eq!(guest.used(TX_QUEUE).len(), 4);
        assert!(guest.used(TX_QUEUE).is_empty());
        assert_eq!(guest.net.lock().unwrap().tx_dropped, 4);
        // A loop: descriptor 6 points at itself.
        let q = &guest.queues[TX_QUEUE];
        let head = q.peek_desc(0);
        q.store_desc(head, addr, 76, DESC_F_NEXT, head);
        q.make_available(head);
        guest.kick(TX_QUEUE);
        assert_eq!(guest.used(TX_QUEUE), vec![(head, 0)]);
        assert_eq!(guest.host_recv(), None);
        // The device still sends the next good frame.
        guest.send(b"after all that");
        assert_eq!(guest.host_recv().map(|f| f.len()), Some(VNET_HDR_LEN + 14));
    }

    #[test]
    fn a_received_frame_fills_mergeable_buffers_with_num_buffers() {
        let mut guest = TestGuest::active();
        let heads = guest.post_rx(4, 1024);
        guest.kick(RX_QUEUE);
        let sent = frame(hdr(0, 0), 2500);
        guest.host_send(&sent);
        guest.run();
        let used = guest.used(RX_QUEUE);
        assert_eq!(
            used,
            vec![(heads[0], 1024), (heads[1], 1024), (heads[2], 2512 - 2048)]
        );
        let q = &guest.queues[RX_QUEUE];
        let mut got = Vec::new();
        for &(head, len) in &used {
            got.extend(guest.read(q.slot_addr(head), len as usize));
        }
        assert_eq!(u16::from_le_bytes([got[10], got[11]]), 3, "num_buffers");
        assert_eq!(got[..10], sent[..10]);
        assert_eq!(got[12..], sent[12..]);
        assert_ne!(guest.transport.interrupt().status() & 1, 0);
    }

    #[test]
    fn without_mergeable_buffers_a_frame_takes_one_chain_or_is_dropped() {
        let mut guest = TestGuest::new(true);
        guest.activate(VERSION_1);
        let heads = guest.post_rx(2, 1000);
        guest.kick(RX_QUEUE);
        // Too big for a chain: dropped, and the chain stays posted.
        guest.host_send(&frame(hdr(0, 0), 1200));
        guest.host_send(&frame(hdr(0, 0), 60));
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 72)]);
        let got = guest.read(guest.queues[RX_QUEUE].slot_addr(heads[0]), 12);
        assert_eq!(u16::from_le_bytes([got[10], got[11]]), 1, "num_buffers");
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 1);
    }

    #[test]
    fn with_no_rx_buffers_the_frame_waits_and_the_tap_is_not_read() {
        let mut guest = TestGuest::active();
        guest.host_send(&frame(hdr(0, 0), 100));
        guest.host_send(&frame(hdr(0, 0), 200));
        // `run` fails if the device spins on the readable backend.
        guest.run();
        {
            let net = guest.net.lock().unwrap();
            assert!(net.rx_waiting);
            assert!(!net.backend_polled);
            assert_eq!(net.rx_pending, 112);
        }
        guest.host_send(&frame(hdr(0, 0), 300));
        guest.run();
        assert!(guest.used(RX_QUEUE).is_empty());
        let heads = guest.post_rx(4, 1024);
        guest.kick(RX_QUEUE);
        assert_eq!(
            guest.used(RX_QUEUE),
            vec![(heads[0], 112), (heads[1], 212), (heads[2], 312)]
        );
        let net = guest.net.lock().unwrap();
        assert!(net.backend_polled && !net.rx_waiting);
        assert_eq!(net.rx_dropped, 0);
    }

    #[test]
    fn malformed_rx_chains_are_returned_unused() {
        let mut guest = TestGuest::active();
        let q = &mut guest.queues[RX_QUEUE];
        let (a, b, c) = (q.slot_addr(0), q.slot_addr(1), q.slot_addr(2));
        // Device-readable, shorter than the header, outside guest memory.
        let read_only = q.add_chain(&[(a, 1024, 0)]);
        let short = q.add_chain(&[(b, 8, DESC_F_WRITE)]);
        let outside = q.add_chain(&[(MEM_SIZE - 4, 64, DESC_F_WRITE)]);
        let good = q.add_chain(&[(c, 1024, DESC_F_WRITE)]);
        guest.kick(RX_QUEUE);
        guest.host_send(&frame(hdr(0, 0), 50));
        guest.run();
        assert_eq!(
            guest.used(RX_QUEUE),
            vec![(read_only, 0), (short, 0), (outside, 0), (good, 62)]
        );
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 0);
        // A loop (descriptor pointing at itself) that the frame outgrows.
        let q = &mut guest.queues[RX_QUEUE];
        let addr = q.slot_addr(q.peek_desc(0));
        let head = q.add_chain(&[(addr, 16, DESC_F_WRITE)]);
        q.store_desc(head, addr, 16, DESC_F_WRITE | DESC_F_NEXT, head);
        let good = guest.post_rx(1, 1024)[0];
        guest.kick(RX_QUEUE);
        guest.host_send(&frame(hdr(0, 0), 500));
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(head, 0), (good, 512)]);
    }

    #[test]
    fn a_frame_bigger_than_every_buffer_is_dropped() {
        let mut guest = TestGuest::active();
        // The whole queue: 16 chains of 16 bytes.
        let heads = guest.post_rx(16, 16);
        guest.kick(RX_QUEUE);
        guest.host_send(&frame(hdr(0, 0), 300));
        guest.host_send(&frame(hdr(0, 0), 20));
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 16), (heads[1], 16)]);
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 1);
    }

    #[test]
    fn frames_with_offloads_the_driver_did_not_take_are_dropped() {
        let mut guest = TestGuest::active();
        let heads = guest.post_rx(4, 2048);
        guest.kick(RX_QUEUE);
        guest.host_send(&frame(hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0), 64));
        guest.host_send(&frame(hdr(0, VIRTIO_NET_HDR_GSO_TCPV4), 64));
        guest.host_send(&frame(hdr(0, 0x80), 64));
        // DATA_VALID (2) is only a hint: cleared, not dropped.
        guest.host_send(&frame(hdr(2, 0), 64));
        // Shorter than a header.
        guest.host_send(&[0; 5]);
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 76)]);
        assert_eq!(
            guest.read(guest.queues[RX_QUEUE].slot_addr(heads[0]), 1),
            [0]
        );
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 4);
    }

    #[test]
    fn frames_with_offloads_the_driver_took_pass() {
        let mut guest = TestGuest::new(true);
        let csum_tso = 1 << VIRTIO_NET_F_GUEST_CSUM | 1 << VIRTIO_NET_F_GUEST_TSO6;
        guest.activate(VERSION_1 | MRG | csum_tso);
        let heads = guest.post_rx(2, 2048);
        guest.kick(RX_QUEUE);
        let sent = frame(
            hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6),
            64,
        );
        guest.host_send(&sent);
        guest.run();
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 76)]);
        assert_eq!(
            guest.read(guest.queues[RX_QUEUE].slot_addr(heads[0]), 2),
            sent[..2]
        );
    }

    #[test]
    fn one_wakeup_reads_at_most_a_queue_of_frames() {
        let mut guest = TestGuest::active();
        // Frames the driver did not accept are read and dropped: 20 of them.
        for _ in 0..20 {
            guest.host_send(&frame(hdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0), 64));
        }
        guest.net.lock().unwrap().process_rx();
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 16);
        // The rest on the next wakeups (the backend stays readable).
        guest.run();
        assert_eq!(guest.net.lock().unwrap().rx_dropped, 20);
    }

    #[test]
    fn reset_drops_the_queues_the_waiting_frame_and_the_tap() {
        let mut guest = TestGuest::active();
        guest.host_send(&frame(hdr(0, 0), 100));
        guest.run();
        assert!(guest.net.lock().unwrap().rx_waiting);
        guest.reset();
        {
            let net = guest.net.lock().unwrap();
            assert!(net.activation.active.is_none());
            assert!(!net.backend_polled && !net.rx_waiting);
            assert_eq!(net.rx_pending, 0);
        }
        // Frames arriving now stay in the backend; kicks do nothing.
        guest.host_send(&frame(hdr(0, 0), 100));
        guest.post_rx(1, 1024);
        guest.kick(RX_QUEUE);
        assert!(guest.used(RX_QUEUE).is_empty());
        // After a new activation the device works again.
        guest.write(0x1_0000, &[0; 0x2_0000]);
        guest.queues = (0..2)
            .map(|i| crate::vsock::test_utils::GuestQueue::new(guest.mem, i))
            .collect();
        guest.activate(VERSION_1 | MRG);
        let heads = guest.post_rx(1, 1024);
        guest.kick(RX_QUEUE);
        assert_eq!(guest.used(RX_QUEUE), vec![(heads[0], 112)]);
    }
}
