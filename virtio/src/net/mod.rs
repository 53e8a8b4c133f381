//! virtio-net (virtio 1.2, section 5.1) with a tap on the host side.
//!
//! The guest sends frames on the tx queue; each chain is a 12-byte
//! virtio-net header and the frame, written to the tap in one write. Frames
//! the tap hands over are copied into the guest's rx buffers, spread over
//! several chains when the driver accepted mergeable rx buffers
//! (`num_buffers` in the header says how many).
//!
//! The tap keeps the virtio-net header (`IFF_VNET_HDR`), so checksum and
//! segmentation offloads pass through untouched in both directions. The
//! device offers them only if the tap accepts them, and on activation sets
//! the tap to produce no more than the driver accepted; a frame that still
//! asks for more (queued before) is dropped rather than handed over.
//!
//! The guest is not trusted: a tx frame is at most [`MAX_FRAME_LEN`] bytes
//! after its header; malformed chains are returned with nothing used and
//! logged once per device; each event-loop wakeup moves at most a queue's
//! worth of frames each way; with no rx buffers posted, the device keeps
//! one frame and stops reading the tap until the guest posts more.

mod device;
mod event_handler;
mod tap;
#[cfg(test)]
mod test_utils;

use std::io;
use std::os::fd::AsRawFd;

pub use device::Net;
pub use tap::{Tap, TapError};

/// Size of each of the two queues.
pub const QUEUE_SIZE: u16 = 256;
/// Index of the queue the device writes received frames into.
pub const RX_QUEUE: usize = 0;
/// Index of the queue the driver sends frames on.
pub const TX_QUEUE: usize = 1;
/// Number of queues (one pair, no control queue).
pub const NUM_QUEUES: usize = 2;

/// Size of the virtio-net header of a virtio 1.x device (`struct
/// virtio_net_hdr_v1`, `num_buffers` included), in front of every frame.
pub const VNET_HDR_LEN: usize = 12;
/// Largest frame after the header, either way: the largest IP packet
/// (65535 bytes) behind an Ethernet header with a VLAN tag.
pub const MAX_FRAME_LEN: usize = 65535 + 14 + 4;
/// Smallest MTU the device accepts (IPv4's minimum).
pub const MIN_MTU: u16 = 68;

/// Feature bits of the network device (virtio 1.2, section 5.1.3).
pub mod features {
    /// The device takes frames with a partial checksum.
    pub const VIRTIO_NET_F_CSUM: u32 = 0;
    /// The driver takes frames with a partial checksum.
    pub const VIRTIO_NET_F_GUEST_CSUM: u32 = 1;
    /// The config space has the MTU.
    pub const VIRTIO_NET_F_MTU: u32 = 3;
    /// The config space has the MAC address.
    pub const VIRTIO_NET_F_MAC: u32 = 5;
    /// The driver takes TCPv4 segmentation offload frames.
    pub const VIRTIO_NET_F_GUEST_TSO4: u32 = 7;
    /// The driver takes TCPv6 segmentation offload frames.
    pub const VIRTIO_NET_F_GUEST_TSO6: u32 = 8;
    /// The driver takes UDP fragmentation offload frames.
    pub const VIRTIO_NET_F_GUEST_UFO: u32 = 10;
    /// The device takes TCPv4 segmentation offload frames.
    pub const VIRTIO_NET_F_HOST_TSO4: u32 = 11;
    /// The device takes TCPv6 segmentation offload frames.
    pub const VIRTIO_NET_F_HOST_TSO6: u32 = 12;
    /// The device takes UDP fragmentation offload frames.
    pub const VIRTIO_NET_F_HOST_UFO: u32 = 14;
    /// The driver can merge rx buffers: a frame may span several chains.
    pub const VIRTIO_NET_F_MRG_RXBUF: u32 = 15;
    /// The config space has the link status.
    pub const VIRTIO_NET_F_STATUS: u32 = 16;
}

/// The header's `flags`: the frame's checksum is partial (from
/// `csum_start`, stored at `csum_offset`).
pub const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// The header's `gso_type`: not a segmentation offload frame.
pub const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
/// The header's `gso_type`: TCPv4 segmentation.
pub const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
/// The header's `gso_type`: UDP fragmentation.
pub const VIRTIO_NET_HDR_GSO_UDP: u8 = 3;
/// The header's `gso_type`: TCPv6 segmentation.
pub const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
/// The config space's `status`: the link is up.
pub const VIRTIO_NET_S_LINK_UP: u16 = 1;

/// The host side of a [`Net`] device: a [`Tap`], or anything that moves
/// whole frames, each behind its 12-byte virtio-net header, the way a tap
/// with `IFF_VNET_HDR` does. Its fd is polled for readable frames.
pub trait Backend: AsRawFd + Send {
    /// Reads one frame (header included) into `buf`; `WouldBlock` when
    /// there is none.
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<usize>;

    /// Writes one frame (header included).
    fn write_frame(&mut self, frame: &[u8]) -> io::Result<usize>;

    /// Lets the backend hand over frames with the offloads of `flags`
    /// (`TUN_F_*` bits) and no others.
    fn set_offload(&mut self, flags: u32) -> io::Result<()>;
}

/// Why the device could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The activation eventfd could not be created.
    #[error("creating the activation eventfd")]
    EventFd(#[source] io::Error),
    /// The MTU is below [`MIN_MTU`].
    #[error("MTU {0} is below {MIN_MTU}")]
    Mtu(u16),
    /// The backend refused to turn its offloads off.
    #[error("turning the tap's offloads off")]
    Offload(#[source] io::Error),
}
