//! virtio-vsock with Unix sockets on the host side (Firecracker's
//! "hybrid vsock" convention).
//!
//! - Host to guest: a host process connects to the Unix socket at `uds_path`
//!   and writes `CONNECT <port>\n`; the device opens a connection to guest
//!   port `<port>` and, once the guest accepts, writes `OK <host_port>\n` back
//!   and relays bytes both ways. A refused connection closes the Unix socket.
//! - Guest to host: a guest connection to host port `P` is forwarded to the
//!   Unix socket at `<uds_path>_<P>`, or reset if nobody listens there.
//! - Both are bound and connected through an fd on the directory of
//!   `uds_path` ([`SocketPath`]), so its length does not matter.
//!
//! The guest is not trusted: every packet is checked, each connection buffers
//! at most [`CONN_TX_BUF_SIZE`] bytes (the credit the guest gets), and there
//! are at most [`MAX_CONNECTIONS`] connections.

mod connection;
mod device;
mod event_handler;
mod muxer;
mod socket_path;
#[cfg(test)]
pub(crate) mod test_utils;

use std::path::PathBuf;

pub use device::Vsock;
pub use socket_path::SocketPath;

/// The host's CID, the source of every packet the device sends.
pub const VSOCK_HOST_CID: u64 = 2;
/// Stream sockets, the only type we support.
pub const VSOCK_TYPE_STREAM: u16 = 1;

/// Packet operations (virtio 1.2, section 5.10.6).
pub mod op {
    /// Connection request.
    pub const REQUEST: u16 = 1;
    /// Connection accepted.
    pub const RESPONSE: u16 = 2;
    /// Connection reset / refused.
    pub const RST: u16 = 3;
    /// One or both directions shut down (see the shutdown flags).
    pub const SHUTDOWN: u16 = 4;
    /// Data.
    pub const RW: u16 = 5;
    /// The sender tells its buffer space.
    pub const CREDIT_UPDATE: u16 = 6;
    /// The sender asks for a credit update.
    pub const CREDIT_REQUEST: u16 = 7;
}

/// SHUTDOWN flag: the sender will receive no more data.
pub const VSOCK_FLAGS_SHUTDOWN_RCV: u32 = 1;
/// SHUTDOWN flag: the sender will send no more data.
pub const VSOCK_FLAGS_SHUTDOWN_SEND: u32 = 2;

/// Largest payload of one packet, both ways.
pub const MAX_PKT_BUF_SIZE: u32 = 64 * 1024;
/// Bytes from the guest a connection buffers before the host side reads
/// them: the `buf_alloc` we advertise to the guest.
pub const CONN_TX_BUF_SIZE: u32 = 256 * 1024;
/// Send the guest a credit update once the host side consumed this much
/// since the last one.
pub const CONN_CREDIT_UPDATE_THRESHOLD: u32 = CONN_TX_BUF_SIZE / 4;
/// Most connections open at once; more are refused.
pub const MAX_CONNECTIONS: usize = 256;
/// Most host connections that have not yet sent their `CONNECT` line.
pub const MAX_PENDING_HANDSHAKES: usize = 32;
/// Longest `CONNECT <port>\n` line accepted.
pub const MAX_HANDSHAKE_LINE: usize = 32;
/// Most queued RST replies to packets that match no connection.
pub const MAX_PENDING_RSTS: usize = 256;

/// Size of each of the three queues.
pub const QUEUE_SIZE: u16 = 256;
/// Index of the queue the device writes packets into.
pub const RX_QUEUE: usize = 0;
/// Index of the queue the driver sends packets on.
pub const TX_QUEUE: usize = 1;
/// Index of the event queue (transport reset events; unused).
pub const EVENT_QUEUE: usize = 2;
/// Number of queues.
pub const NUM_QUEUES: usize = 3;

/// Errors of the vsock device.
#[derive(Debug, thiserror::Error)]
pub enum VsockError {
    /// The CID is reserved or does not fit in 32 bits.
    #[error("invalid guest CID {0}")]
    InvalidCid(u64),
    /// The host socket could not be created.
    #[error("bind {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An eventfd could not be created.
    #[error("eventfd: {0}")]
    EventFd(#[source] std::io::Error),
}
