//! Synchronous rtnetlink: what runvm reads and changes in a network
//! namespace, on both sides of the VM.
//!
//! The host monitor reads the container's links, addresses, routes and
//! neighbours, and joins each link to a tap with tc (ingress qdisc, u32
//! match-all filter, mirred egress redirect); the guest agent renames,
//! sizes and raises its links and adds the addresses, routes and
//! neighbours. Both are thread-based, so this is a plain blocking socket
//! (no async runtime): one request at a time, each waiting for the
//! kernel's answer, on top of `netlink-packet-route` messages.
//!
//! An [`Rtnl`] works on the network namespace of the thread that opened it,
//! whatever namespace that thread moves to later.
//!
//! - [`link`]: links (read, rename, MTU, up, veth pairs);
//! - [`address`]: addresses of links;
//! - [`route`]: routes of the main table;
//! - [`neighbour`]: permanent neighbour entries;
//! - [`tc`]: ingress qdiscs and redirect filters.

pub mod address;
pub mod link;
pub mod neighbour;
pub mod route;
pub mod tc;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::io;

use netlink_packet_core::{
    DecodeError, NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::errno::Errno;

pub use address::Address;
pub use link::Link;
pub use neighbour::Neighbour;
pub use route::Route;

/// A request that failed; `operation` says what was asked. The kernel's
/// refusal is in the text (the guest agent sends only the text); socket
/// and decoding errors are in the source chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening a netlink socket")]
    Socket(#[source] io::Error),
    #[error("{operation}: {}", .errno.desc())]
    Kernel { operation: String, errno: Errno },
    #[error("{operation}: netlink socket")]
    Io {
        operation: String,
        #[source]
        source: io::Error,
    },
    #[error("{operation}: malformed netlink answer")]
    Decode {
        operation: String,
        #[source]
        source: DecodeError,
    },
}

impl Error {
    /// The kernel's errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// A route netlink socket in the network namespace of the thread that
/// opened it.
pub struct Rtnl {
    socket: Socket,
    sequence: u32,
}

impl Rtnl {
    pub fn open() -> Result<Self, Error> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(Error::Socket)?;
        socket.bind_auto().map_err(Error::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(Error::Socket)?;
        Ok(Rtnl {
            socket,
            sequence: 0,
        })
    }

    /// Sends a change and waits for the kernel's acknowledgement.
    fn change(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        operation: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        self.exchange(message, NLM_F_ACK | flags, operation)
            .map(drop)
    }

    /// Asks for every object of a kind (a dump) and keeps what `read`
    /// makes of the answers.
    fn dump<T>(
        &mut self,
        message: RouteNetlinkMessage,
        operation: impl FnOnce() -> String,
        read: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, Error> {
        let answers = self.exchange(message, NLM_F_DUMP, operation)?;
        Ok(answers.into_iter().filter_map(read).collect())
    }

    fn exchange(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        operation: impl FnOnce() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | flags;
        request.header.sequence_number = self.sequence;
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        match self.send_and_collect(&bytes) {
            Ok(answers) => Ok(answers),
            Err(Failure::Kernel(errno)) => Err(Error::Kernel {
                operation: operation(),
                errno,
            }),
            Err(Failure::Io(source)) => Err(Error::Io {
                operation: operation(),
                source,
            }),
            Err(Failure::Decode(source)) => Err(Error::Decode {
                operation: operation(),
                source,
            }),
        }
    }

    /// Sends `request` and reads answers to it until its acknowledgement,
    /// the end of its dump, or an error.
    fn send_and_collect(&mut self, request: &[u8]) -> Result<Vec<RouteNetlinkMessage>, Failure> {
        retry_interrupted(|| self.socket.send(request, 0)).map_err(Failure::Io)?;
        let mut answers = Vec::new();
        loop {
            let (datagram, _) =
                retry_interrupted(|| self.socket.recv_from_full()).map_err(Failure::Io)?;
            let mut rest = datagram.as_slice();
            while !rest.is_empty() {
                let length = usize::try_from(NetlinkBuffer::new_checked(rest)?.length())
                    .map_err(|_| Failure::Decode("netlink message length".into()))?;
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..length])?;
                // Messages are padded to 4 bytes; the last one may not be.
                rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
                if message.header.sequence_number != self.sequence {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::InnerMessage(answer) => answers.push(answer),
                    NetlinkPayload::Error(error) => {
                        return match error.code {
                            None => Ok(answers),
                            Some(code) => Err(Failure::Kernel(Errno::from_raw(-code.get()))),
                        }
                    }
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(Failure::Kernel(Errno::from_raw(-done.code)))
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    _ => {}
                }
            }
        }
    }
}

/// Why an exchange failed, before the operation's name is added.
enum Failure {
    Kernel(Errno),
    Io(io::Error),
    Decode(DecodeError),
}

impl From<DecodeError> for Failure {
    fn from(error: DecodeError) -> Self {
        Failure::Decode(error)
    }
}

fn retry_interrupted<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::in_new_network_namespace;

    #[test]
    fn a_refused_request_names_the_operation_and_the_errno() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            let error = rtnl.set_mtu(999_999, 1500).unwrap_err();
            assert_eq!(error.errno(), Some(Errno::ENODEV));
            assert_eq!(
                error.to_string(),
                "setting the MTU of link 999999 to 1500: No such device"
            );
        });
    }
}
