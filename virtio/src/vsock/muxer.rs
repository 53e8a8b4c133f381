//! The host side of the vsock device: the listening Unix socket, the
//! `CONNECT <port>` handshakes, the connections, and which file descriptors
//! the event loop polls.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use event_manager::{EventOps, EventSet, Events};
use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
use tracing::warn;

use super::connection::{init_rx_header, Connection, Packet};
use super::socket_path::SocketPath;
use super::{
    op, VsockError, MAX_CONNECTIONS, MAX_HANDSHAKE_LINE, MAX_PENDING_HANDSHAKES, MAX_PENDING_RSTS,
    VSOCK_HOST_CID, VSOCK_TYPE_STREAM,
};

/// A connection is named by (host port, guest port).
type ConnKey = (u32, u32);

/// The first host port given to host-initiated connections.
const FIRST_LOCAL_PORT: u32 = 1 << 30;
/// Most connections accepted from the listener per event.
const MAX_ACCEPTS_PER_EVENT: usize = 16;

/// Problems that are logged once per device, not once per packet.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum Warning {
    WrongCid = 1,
    UnsupportedType = 2,
    UnknownConnection = 4,
    TooManyConnections = 8,
    RstQueueFull = 16,
    Poll = 32,
    Accept = 64,
}

/// A host connection that has not sent its `CONNECT <port>\n` line yet.
#[derive(Debug)]
struct Handshake {
    stream: UnixStream,
    line: Vec<u8>,
}

/// Parses `CONNECT <port>`.
fn parse_connect(line: &[u8]) -> Option<u32> {
    let line = std::str::from_utf8(line).ok()?;
    line.trim().strip_prefix("CONNECT ")?.trim().parse().ok()
}

/// Connects to a Unix socket without blocking: a listener whose backlog is
/// full refuses instead of stalling the event loop.
fn connect_nonblocking(path: &Path) -> std::io::Result<UnixStream> {
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let fd = socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
    connect(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    Ok(UnixStream::from(fd))
}

/// The host side of the device.
#[derive(Debug)]
pub(crate) struct VsockMuxer {
    guest_cid: u64,
    /// Bound and connected through an fd on its directory: its path may
    /// be too long for a socket address.
    uds: SocketPath,
    listener: UnixListener,
    /// Whether the listener is polled (only while the device is active).
    listening: bool,
    /// accept(2) failed (out of descriptors): stop polling the listener
    /// until a connection closes, rather than spin on it.
    accept_paused: bool,
    handshakes: HashMap<RawFd, Handshake>,
    conns: HashMap<ConnKey, Connection>,
    conn_by_fd: HashMap<RawFd, ConnKey>,
    /// Connections the guest reset that still write out what it sent
    /// before, by socket: out of `conns`, so the guest may reuse their
    /// ports, but counted against [`MAX_CONNECTIONS`].
    draining: HashMap<RawFd, Connection>,
    /// Connections with something for the rx queue, in turn.
    rx_queue: VecDeque<ConnKey>,
    /// RSTs owed for packets that match no connection: (host port, guest port).
    rst_queue: VecDeque<ConnKey>,
    /// What each polled descriptor is registered for.
    registered: HashMap<RawFd, EventSet>,
    /// Closed sockets to remove from the poll set before they are dropped.
    retired: Vec<UnixStream>,
    next_local_port: u32,
    warned: u32,
}

impl VsockMuxer {
    /// Listens at `uds_path`.
    pub(crate) fn new(guest_cid: u64, uds_path: PathBuf) -> Result<Self, VsockError> {
        let bind_error = |source| VsockError::Bind {
            path: uds_path.clone(),
            source,
        };
        let uds = SocketPath::new(&uds_path).map_err(bind_error)?;
        let listener = uds.bind().map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        Ok(Self {
            guest_cid,
            uds,
            listener,
            listening: false,
            accept_paused: false,
            handshakes: HashMap::new(),
            conns: HashMap::new(),
            conn_by_fd: HashMap::new(),
            draining: HashMap::new(),
            rx_queue: VecDeque::new(),
            rst_queue: VecDeque::new(),
            registered: HashMap::new(),
            retired: Vec::new(),
            next_local_port: FIRST_LOCAL_PORT,
            warned: 0,
        })
    }

    fn warn_once(&mut self, kind: Warning, what: &str) {
        let bit = kind as u32;
        if self.warned & bit == 0 {
            self.warned |= bit;
            warn!("vsock: {what} (logged once)");
        }
    }

    pub(crate) fn uds_path(&self) -> &Path {
        self.uds.path()
    }

    /// Starts or stops accepting host connections.
    pub(crate) fn set_listening(&mut self, listening: bool) {
        self.listening = listening;
    }

    /// Drops every connection (device reset). Draining ones finish: the
    /// guest already let go of them.
    pub(crate) fn reset(&mut self) {
        self.listening = false;
        self.retired
            .extend(self.handshakes.drain().map(|(_, hs)| hs.stream));
        self.retired
            .extend(self.conns.drain().map(|(_, conn)| conn.into_stream()));
        self.conn_by_fd.clear();
        self.rx_queue.clear();
        self.rst_queue.clear();
    }

    /// Whether there is a packet for the guest's rx queue.
    pub(crate) fn has_pending_rx(&self) -> bool {
        !self.rst_queue.is_empty() || !self.rx_queue.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn connection_count(&self) -> usize {
        self.conns.len()
    }

    #[cfg(test)]
    pub(crate) fn draining_count(&self) -> usize {
        self.draining.len()
    }

    /// Connections holding a socket and a buffer: live and draining.
    fn open_connections(&self) -> usize {
        self.conns.len() + self.draining.len()
    }

    fn queue_rst(&mut self, host_port: u32, guest_port: u32) {
        if self.rst_queue.len() >= MAX_PENDING_RSTS {
            self.warn_once(Warning::RstQueueFull, "too many resets pending; dropping");
            return;
        }
        self.rst_queue.push_back((host_port, guest_port));
    }

    /// Re-evaluates a connection after something happened to it.
    fn update_conn(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.is_closed() || conn.is_draining() {
            if let Some(conn) = self.conns.remove(&key) {
                let fd = conn.stream().as_raw_fd();
                self.conn_by_fd.remove(&fd);
                if conn.is_draining() {
                    self.draining.insert(fd, conn);
                } else {
                    self.retired.push(conn.into_stream());
                }
            }
            return;
        }
        if !conn.in_rx_queue && conn.has_pending_rx() {
            conn.in_rx_queue = true;
            self.rx_queue.push_back(key);
        }
    }

    fn add_conn(&mut self, key: ConnKey, conn: Connection) {
        self.conn_by_fd.insert(conn.stream().as_raw_fd(), key);
        self.conns.insert(key, conn);
        self.update_conn(key);
    }

    /// Handles a packet the guest sent.
    pub(crate) fn send_pkt(&mut self, pkt: &Packet<'_>) {
        if pkt.src_cid() != self.guest_cid || pkt.dst_cid() != VSOCK_HOST_CID {
            self.warn_once(Warning::WrongCid, "dropping a packet with a wrong CID");
            return;
        }
        let key = (pkt.dst_port(), pkt.src_port());
        if pkt.type_() != VSOCK_TYPE_STREAM {
            self.warn_once(Warning::UnsupportedType, "refusing a non-stream packet");
            if pkt.op() != op::RST {
                self.queue_rst(key.0, key.1);
            }
            return;
        }
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.handle_guest_packet(pkt);
            self.update_conn(key);
            return;
        }
        match pkt.op() {
            op::REQUEST => self.connect_to_host(pkt),
            op::RST => {}
            _ => {
                self.warn_once(
                    Warning::UnknownConnection,
                    "packet for an unknown connection",
                );
                self.queue_rst(key.0, key.1);
            }
        }
    }

    /// A guest connects to host port P: forward to `<uds_path>_<P>`.
    fn connect_to_host(&mut self, pkt: &Packet<'_>) {
        let (host_port, guest_port) = (pkt.dst_port(), pkt.src_port());
        if self.open_connections() >= MAX_CONNECTIONS {
            self.warn_once(Warning::TooManyConnections, "too many connections");
            self.queue_rst(host_port, guest_port);
            return;
        }
        let path = self.uds.address_with_suffix(&format!("_{host_port}"));
        match connect_nonblocking(&path) {
            Ok(stream) => self.add_conn((host_port, guest_port), Connection::new_peer(stream, pkt)),
            Err(_) => self.queue_rst(host_port, guest_port),
        }
    }

    /// Writes the next packet for the guest into `pkt`; returns its used
    /// length, or `None` if nothing could be sent in it.
    pub(crate) fn recv_pkt(&mut self, pkt: &mut Packet<'_>) -> Option<u32> {
        if let Some((host_port, guest_port)) = self.rst_queue.pop_front() {
            init_rx_header(pkt, self.guest_cid, host_port, guest_port, op::RST).ok()?;
            return Some(super::connection::HEADER_LEN);
        }
        for _ in 0..self.rx_queue.len() {
            let key = self.rx_queue.pop_front()?;
            let Some(conn) = self.conns.get_mut(&key) else {
                continue;
            };
            conn.in_rx_queue = false;
            let used = conn.fill_rx(pkt, self.guest_cid);
            self.update_conn(key);
            if used.is_some() {
                return used;
            }
        }
        None
    }

    /// Handles readiness of one of our descriptors.
    pub(crate) fn handle_event(&mut self, fd: RawFd, set: EventSet) {
        if fd == self.listener.as_raw_fd() {
            self.accept();
        } else if self.handshakes.contains_key(&fd) {
            self.read_handshake(fd);
        } else if let Some(&key) = self.conn_by_fd.get(&fd) {
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.handle_stream_event(set);
            }
            self.update_conn(key);
        } else if let Some(conn) = self.draining.get_mut(&fd) {
            conn.handle_stream_event(set);
            if conn.is_drained() {
                if let Some(conn) = self.draining.remove(&fd) {
                    self.retired.push(conn.into_stream());
                }
            }
        }
    }

    fn accept(&mut self) {
        if !self.listening {
            return;
        }
        for _ in 0..MAX_ACCEPTS_PER_EVENT {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.warned & Warning::Accept as u32 == 0 {
                        self.warned |= Warning::Accept as u32;
                        warn!(
                            "vsock: accept on {}: {e} (logged once)",
                            self.uds.path().display()
                        );
                    }
                    self.accept_paused = true;
                    return;
                }
            };
            if self.handshakes.len() >= MAX_PENDING_HANDSHAKES
                || stream.set_nonblocking(true).is_err()
            {
                // Dropping it closes it; the client sees EOF.
                continue;
            }
            self.handshakes.insert(
                stream.as_raw_fd(),
                Handshake {
                    stream,
                    line: Vec::new(),
                },
            );
        }
    }

    /// Reads the `CONNECT <port>\n` line a byte at a time, so that nothing
    /// the client sends after it is consumed here.
    fn read_handshake(&mut self, fd: RawFd) {
        let Some(hs) = self.handshakes.get_mut(&fd) else {
            return;
        };
        let complete = loop {
            let mut byte = [0u8; 1];
            match hs.stream.read(&mut byte) {
                Ok(1) if byte[0] == b'\n' => break true,
                Ok(1) if hs.line.len() < MAX_HANDSHAKE_LINE => hs.line.push(byte[0]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // EOF, error, or a line too long.
                _ => break false,
            }
        };
        let Some(hs) = self.handshakes.remove(&fd) else {
            return;
        };
        let port = if complete {
            parse_connect(&hs.line)
        } else {
            None
        };
        let Some(guest_port) = port else {
            self.retired.push(hs.stream);
            return;
        };
        if self.open_connections() >= MAX_CONNECTIONS {
            warn!("vsock: too many connections; refusing a host connection");
            self.retired.push(hs.stream);
            return;
        }
        let local_port = self.allocate_local_port();
        self.add_conn(
            (local_port, guest_port),
            Connection::new_local(hs.stream, local_port, guest_port),
        );
    }

    /// A host port no other connection uses.
    fn allocate_local_port(&mut self) -> u32 {
        loop {
            let port = self.next_local_port;
            self.next_local_port = port.checked_add(1).unwrap_or(FIRST_LOCAL_PORT);
            // At most MAX_CONNECTIONS ports are taken, so this ends quickly.
            if !self.conns.values().any(|c| c.local_port() == port) {
                return port;
            }
        }
    }

    /// Brings the poll set in line with what each descriptor waits for, and
    /// closes retired sockets once they are out of it.
    pub(crate) fn sync(&mut self, ops: &mut EventOps) {
        if !self.retired.is_empty() {
            // Descriptors are being freed: accepting may work again.
            self.accept_paused = false;
        }
        for stream in self.retired.drain(..) {
            if self.registered.remove(&stream.as_raw_fd()).is_some() {
                // Fails only if it was never added; either way it is out.
                let _ = ops.remove(Events::empty(&stream));
            }
        }
        let mut wanted: Vec<(RawFd, EventSet)> =
            Vec::with_capacity(1 + self.handshakes.len() + self.open_connections());
        let listener_set = if self.listening && !self.accept_paused {
            EventSet::IN
        } else {
            EventSet::empty()
        };
        wanted.push((self.listener.as_raw_fd(), listener_set));
        wanted.extend(self.handshakes.keys().map(|&fd| (fd, EventSet::IN)));
        wanted.extend(
            self.conns
                .values()
                .chain(self.draining.values())
                .map(|c| (c.stream().as_raw_fd(), c.interest())),
        );
        for (fd, set) in wanted {
            let current = self.registered.get(&fd).copied();
            let result = match current {
                None if set.is_empty() => continue,
                None => ops.add(Events::new_raw(fd, set)),
                Some(_) if set.is_empty() => ops.remove(Events::empty_raw(fd)),
                Some(cur) if cur == set => continue,
                Some(_) => ops.modify(Events::new_raw(fd, set)),
            };
            match result {
                Ok(()) if set.is_empty() => {
                    self.registered.remove(&fd);
                }
                Ok(()) => {
                    self.registered.insert(fd, set);
                }
                Err(_) => self.warn_once(Warning::Poll, "cannot poll a socket"),
            }
        }
    }
}

impl Drop for VsockMuxer {
    fn drop(&mut self) {
        // Leave no socket file behind.
        let _ = std::fs::remove_file(self.uds.path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    use crate::vsock::test_utils::{TestContext, TestHeader, GUEST_CID};

    #[test]
    fn packets_with_wrong_cids_are_dropped() {
        let mut ctx = TestContext::active();
        let _listener = ctx.host_listen(2);
        ctx.post_rx(2);
        for (src_cid, dst_cid) in [
            (4, VSOCK_HOST_CID),
            (VSOCK_HOST_CID, VSOCK_HOST_CID),
            (GUEST_CID, GUEST_CID),
            (GUEST_CID, 1),
            (GUEST_CID, u64::MAX),
            (GUEST_CID | 1 << 32, VSOCK_HOST_CID),
        ] {
            let mut hdr = TestHeader::guest(op::REQUEST, 1, 2);
            hdr.src_cid = src_cid;
            hdr.dst_cid = dst_cid;
            ctx.send(hdr, &[]);
            assert_eq!(ctx.tx_used(), 1);
        }
        assert!(ctx.recv().is_none());
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn non_stream_packets_are_reset() {
        let mut ctx = TestContext::active();
        let _listener = ctx.host_listen(2);
        ctx.post_rx(4);
        for type_ in [0u16, 2, 0xffff] {
            let mut hdr = TestHeader::guest(op::REQUEST, 1, 2);
            hdr.type_ = type_;
            ctx.send(hdr, &[]);
            ctx.expect(op::RST, 2, 1);
        }
        // An RST is never answered with an RST.
        let mut hdr = TestHeader::guest(op::RST, 1, 2);
        hdr.type_ = 2;
        ctx.send(hdr, &[]);
        assert!(ctx.recv().is_none());
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn packets_for_unknown_connections_are_reset() {
        let mut ctx = TestContext::active();
        ctx.post_rx(8);
        let ops = [
            op::RESPONSE,
            op::SHUTDOWN,
            op::RW,
            op::CREDIT_UPDATE,
            op::CREDIT_REQUEST,
            0,
            8,
            0xffff,
        ];
        for (i, operation) in ops.into_iter().enumerate() {
            let port = 100 + u32::try_from(i).unwrap();
            ctx.send_op(operation, port, 7);
            let (hdr, _) = ctx.expect(op::RST, 7, port);
            assert_eq!(hdr.len, 0);
        }
        ctx.send_op(op::RST, 1, 7);
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn unknown_op_on_a_connection_resets_it() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(4);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 4096);
        ctx.send_op(0x42, 5000, 52);
        ctx.expect(op::RST, 52, 5000);
        assert_eq!(ctx.connections(), 0);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        // A second REQUEST on a live connection resets it too.
        let _host = ctx.guest_connect(&listener, 5001, 52, 4096);
        ctx.send_op(op::REQUEST, 5001, 52);
        ctx.expect(op::RST, 52, 5001);
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn connection_count_is_bounded() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        let mut hosts = Vec::new();
        for port in 0..u32::try_from(MAX_CONNECTIONS).unwrap() {
            // No rx buffers: the RESPONSEs wait in the device.
            ctx.send_op(op::REQUEST, 10_000 + port, 52);
            hosts.push(listener.accept().unwrap().0);
        }
        assert_eq!(ctx.connections(), MAX_CONNECTIONS);
        ctx.send_op(op::REQUEST, 9_999, 52);
        assert_eq!(ctx.connections(), MAX_CONNECTIONS);
        // Host-side connections are refused too.
        let mut host = ctx.host_connect(5);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        assert_eq!(ctx.connections(), MAX_CONNECTIONS);
        ctx.post_rx(1);
        ctx.expect(op::RST, 52, 9_999);
    }

    #[test]
    fn draining_connections_free_their_port_but_count_against_the_limit() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(4);
        // The host reads nothing: the guest's bytes fill the socket and
        // the connection's buffer, and the guest resets it.
        let mut first = ctx.guest_connect(&listener, 5000, 52, 4096);
        let chunk = vec![7u8; crate::vsock::MAX_PKT_BUF_SIZE as usize];
        for _ in 0..4 {
            ctx.send_data(5000, 52, &chunk);
        }
        while ctx.recv().is_some() {}
        ctx.send_op(op::RST, 5000, 52);
        assert_eq!((ctx.connections(), ctx.draining()), (0, 1));

        // The same guest port connects again while the old one drains.
        ctx.post_rx(1);
        let _again = ctx.guest_connect(&listener, 5000, 52, 4096);
        let mut hosts = Vec::new();
        for port in 1..u32::try_from(MAX_CONNECTIONS - 1).unwrap() {
            ctx.send_op(op::REQUEST, 10_000 + port, 52);
            // No rx buffers: the RESPONSEs wait in the device.
            hosts.push(listener.accept().unwrap().0);
        }
        assert_eq!(ctx.connections(), MAX_CONNECTIONS - 1);
        ctx.send_op(op::REQUEST, 9_999, 52);
        assert_eq!(ctx.connections(), MAX_CONNECTIONS - 1);
        ctx.post_rx(1);
        ctx.expect(op::RST, 52, 9_999);

        // Once drained, its slot is free.
        let got = ctx.read_to_eof(&mut first).len();
        assert_eq!(got, 4 * chunk.len());
        assert_eq!(ctx.draining(), 0);
        ctx.send_op(op::REQUEST, 9_999, 52);
        assert_eq!(ctx.connections(), MAX_CONNECTIONS);
    }

    #[test]
    fn pending_resets_are_bounded() {
        let mut ctx = TestContext::active();
        for port in 0..(MAX_PENDING_RSTS as u32 + 50) {
            ctx.send_op(op::RW, port, 7);
        }
        assert_eq!(
            ctx.vsock.lock().unwrap().muxer.rst_queue.len(),
            MAX_PENDING_RSTS
        );
    }

    #[test]
    fn host_ports_are_unique() {
        let mut ctx = TestContext::active();
        ctx.post_rx(3);
        let _a = ctx.host_connect(9);
        let _b = ctx.host_connect(9);
        let _c = ctx.host_connect(10);
        let ports: Vec<u32> = (0..3).map(|_| ctx.recv().unwrap().0.src_port).collect();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        assert!(ports.iter().all(|&p| p >= FIRST_LOCAL_PORT));
        assert_eq!(ctx.connections(), 3);
        let muxer = &mut ctx.vsock.lock().unwrap().muxer;
        muxer.next_local_port = u32::MAX;
        assert_eq!(muxer.allocate_local_port(), u32::MAX);
        assert_eq!(muxer.allocate_local_port(), FIRST_LOCAL_PORT + 3);
    }

    #[test]
    fn connect_lines() {
        assert_eq!(parse_connect(b"CONNECT 1024"), Some(1024));
        assert_eq!(parse_connect(b"CONNECT 52\r"), Some(52));
        assert_eq!(parse_connect(b"CONNECT 4294967295"), Some(u32::MAX));
        assert_eq!(parse_connect(b"CONNECT 4294967296"), None);
        assert_eq!(parse_connect(b"CONNECT -1"), None);
        assert_eq!(parse_connect(b"CONNECT"), None);
        assert_eq!(parse_connect(b"connect 5"), None);
        assert_eq!(parse_connect(b"\xff\xfe"), None);
        assert_eq!(parse_connect(b""), None);
    }

    #[test]
    fn nonblocking_connect_refuses_missing_and_long_paths() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nobody");
        assert!(connect_nonblocking(&missing).is_err());
        let long = dir.path().join("x".repeat(200));
        assert!(connect_nonblocking(&long).is_err());
        let path = dir.path().join("sock");
        let _listener = UnixListener::bind(&path).unwrap();
        assert!(connect_nonblocking(&path).is_ok());
    }
}
