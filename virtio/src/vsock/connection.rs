//! One vsock stream connection between a guest socket and a host Unix socket:
//! the state machine, the bounded buffer of guest data, and credit-based
//! flow control both ways.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::num::Wrapping;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use event_manager::EventSet;
use nix::sys::socket::{send, MsgFlags};
use tracing::warn;
use virtio_vsock::packet::{VsockPacket, PKT_HEADER_SIZE};
use vm_memory::{ReadVolatile, VolatileMemoryError, VolatileSlice};

use super::{
    op, CONN_CREDIT_UPDATE_THRESHOLD, CONN_TX_BUF_SIZE, MAX_PKT_BUF_SIZE, VSOCK_FLAGS_SHUTDOWN_RCV,
    VSOCK_FLAGS_SHUTDOWN_SEND, VSOCK_HOST_CID, VSOCK_TYPE_STREAM,
};

/// A vsock packet in guest memory.
pub(crate) type Packet<'a> = VsockPacket<'a, ()>;

/// The header length as the used length of a packet without data.
pub(crate) const HEADER_LEN: u32 = PKT_HEADER_SIZE as u32;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// The host side connected; the guest has not answered our REQUEST yet.
    LocalInit,
    /// The guest asked to connect; we owe it a RESPONSE.
    PeerInit,
    /// Data flows.
    Established,
    /// The guest reset the connection while bytes it sent before still
    /// wait for the Unix socket: they are written out, then it closes.
    Draining,
    /// Done: the muxer drops the connection.
    Closed,
}

/// Fills in the header of a packet the device sends to the guest.
pub(crate) fn init_rx_header(
    pkt: &mut Packet<'_>,
    guest_cid: u64,
    src_port: u32,
    dst_port: u32,
    op: u16,
) -> Result<(), virtio_vsock::packet::Error> {
    pkt.set_header_from_raw(&[0u8; PKT_HEADER_SIZE])?;
    pkt.set_src_cid(VSOCK_HOST_CID)
        .set_dst_cid(guest_cid)
        .set_src_port(src_port)
        .set_dst_port(dst_port)
        .set_type(VSOCK_TYPE_STREAM)
        .set_op(op);
    Ok(())
}

/// A connection between guest port `peer_port` and host port `local_port`.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: UnixStream,
    state: ConnState,
    local_port: u32,
    peer_port: u32,

    /// Guest data not yet written to the Unix socket, possibly after the
    /// `OK <port>\n` line (the first `tx_uncounted` bytes).
    tx_buf: Vec<u8>,
    tx_uncounted: usize,
    /// Guest bytes written to the Unix socket.
    fwd_cnt: Wrapping<u32>,
    /// `fwd_cnt` as the guest last saw it.
    last_fwd_cnt_sent: Wrapping<u32>,

    /// Bytes sent to the guest.
    rx_cnt: Wrapping<u32>,
    /// The guest's buffer space and how much of what we sent it consumed.
    peer_buf_alloc: u32,
    peer_fwd_cnt: Wrapping<u32>,

    /// Control packets owed to the guest.
    request_pending: bool,
    response_pending: bool,
    credit_update_pending: bool,
    rst_pending: bool,
    /// The Unix socket hit EOF and the guest must get SHUTDOWN(SEND).
    eof_pending: bool,
    /// The guest got SHUTDOWN(SEND) from us.
    eof_sent: bool,
    /// SHUTDOWN flags the guest sent.
    peer_shutdown: u32,
    /// We shut down the write half of the Unix socket.
    write_shut: bool,
    /// The Unix socket may have data (or EOF); we stop polling it until a
    /// read would block.
    readable: bool,

    /// Whether the muxer queued this connection for the rx queue.
    pub(crate) in_rx_queue: bool,
    /// This connection already logged a guest error.
    warned: bool,
}

impl Connection {
    fn new(stream: UnixStream, state: ConnState, local_port: u32, peer_port: u32) -> Self {
        Self {
            stream,
            state,
            local_port,
            peer_port,
            tx_buf: Vec::new(),
            tx_uncounted: 0,
            fwd_cnt: Wrapping(0),
            last_fwd_cnt_sent: Wrapping(0),
            rx_cnt: Wrapping(0),
            peer_buf_alloc: 0,
            peer_fwd_cnt: Wrapping(0),
            request_pending: false,
            response_pending: false,
            credit_update_pending: false,
            rst_pending: false,
            eof_pending: false,
            eof_sent: false,
            peer_shutdown: 0,
            write_shut: false,
            readable: false,
            in_rx_queue: false,
            warned: false,
        }
    }

    /// A connection the host side opened: the guest gets a REQUEST.
    pub(crate) fn new_local(stream: UnixStream, local_port: u32, peer_port: u32) -> Self {
        let mut conn = Self::new(stream, ConnState::LocalInit, local_port, peer_port);
        conn.request_pending = true;
        conn
    }

    /// A connection the guest asked for with `request`: it gets a RESPONSE.
    pub(crate) fn new_peer(stream: UnixStream, request: &Packet<'_>) -> Self {
        let mut conn = Self::new(
            stream,
            ConnState::PeerInit,
            request.dst_port(),
            request.src_port(),
        );
        conn.update_peer_credit(request);
        conn.response_pending = true;
        conn
    }

    pub(crate) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    pub(crate) fn into_stream(self) -> UnixStream {
        self.stream
    }

    pub(crate) fn local_port(&self) -> u32 {
        self.local_port
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state == ConnState::Closed
    }

    /// Whether the guest is gone and the connection only writes out what
    /// the guest sent before (see [`ConnState::Draining`]).
    pub(crate) fn is_draining(&self) -> bool {
        self.state == ConnState::Draining
    }

    /// Whether a draining connection has written (or dropped, on a socket
    /// error) its last byte.
    pub(crate) fn is_drained(&self) -> bool {
        self.tx_buf.is_empty()
    }

    /// Whether the guest's side is gone: nothing more goes to the guest.
    fn guest_gone(&self) -> bool {
        matches!(self.state, ConnState::Closed | ConnState::Draining)
    }

    /// Logs the first guest or socket error of this connection only.
    fn warn_once(&mut self, what: &str) {
        if !self.warned {
            self.warned = true;
            warn!(
                local_port = self.local_port,
                peer_port = self.peer_port,
                "vsock: {what}; resetting the connection"
            );
        }
    }

    /// Resets the connection: the guest gets an RST, the Unix socket is closed.
    fn reset(&mut self, what: &str) {
        self.warn_once(what);
        self.rst_pending = true;
        self.tx_buf.clear();
        self.tx_uncounted = 0;
    }

    /// How many more bytes the guest can take.
    fn peer_credit(&self) -> u32 {
        let in_flight = (self.rx_cnt - self.peer_fwd_cnt).0;
        // A guest claiming to have consumed more than we sent gets no credit.
        self.peer_buf_alloc.saturating_sub(in_flight)
    }

    fn update_peer_credit(&mut self, pkt: &Packet<'_>) {
        self.peer_buf_alloc = pkt.buf_alloc();
        self.peer_fwd_cnt = Wrapping(pkt.fwd_cnt());
    }

    /// Guest bytes buffered, not yet written to the Unix socket.
    fn tx_buffered(&self) -> usize {
        self.tx_buf.len().saturating_sub(self.tx_uncounted)
    }

    fn can_read_stream(&self) -> bool {
        self.state == ConnState::Established
            && !self.rst_pending
            && !self.eof_pending
            && !self.eof_sent
            && self.peer_shutdown & VSOCK_FLAGS_SHUTDOWN_RCV == 0
    }

    /// Whether the connection has something for the guest's rx queue.
    pub(crate) fn has_pending_rx(&self) -> bool {
        if self.guest_gone() {
            return false;
        }
        self.rst_pending
            || self.request_pending
            || self.response_pending
            || self.credit_update_pending
            || self.eof_pending
            || (self.readable && self.can_read_stream() && self.peer_credit() > 0)
    }

    /// What to poll the Unix socket for.
    pub(crate) fn interest(&self) -> EventSet {
        let mut set = EventSet::empty();
        if self.state == ConnState::Closed || self.rst_pending {
            return set;
        }
        if self.state == ConnState::LocalInit {
            // Only to learn that the host client gave up waiting.
            set |= EventSet::READ_HANG_UP;
        }
        if !self.readable && self.can_read_stream() {
            set |= EventSet::IN;
        }
        if !self.tx_buf.is_empty() && !self.write_shut {
            set |= EventSet::OUT;
        }
        set
    }

    /// Handles a packet the guest sent on this connection.
    pub(crate) fn handle_guest_packet(&mut self, pkt: &Packet<'_>) {
        if self.guest_gone() || self.rst_pending {
            return;
        }
        self.update_peer_credit(pkt);
        match (self.state, pkt.op()) {
            (_, op::RST) => {
                // The guest refused or dropped the connection: no reply.
                // What it sent before is the host's all the same (its
                // kernel resets a closed connection the host has not
                // finished within 8 s): written out before the Unix
                // socket closes.
                self.state = if self.tx_buf.is_empty() {
                    ConnState::Closed
                } else {
                    ConnState::Draining
                };
            }
            (ConnState::LocalInit, op::RESPONSE) => {
                self.state = ConnState::Established;
                let line = format!("OK {}\n", self.local_port).into_bytes();
                self.tx_uncounted = line.len();
                self.tx_buf = line;
                self.flush_tx();
            }
            (ConnState::Established, op::RW) => self.receive_guest_data(pkt),
            (ConnState::Established, op::CREDIT_UPDATE) => {}
            (ConnState::Established, op::CREDIT_REQUEST) => self.credit_update_pending = true,
            (ConnState::Established, op::SHUTDOWN) => {
                self.peer_shutdown |=
                    pkt.flags() & (VSOCK_FLAGS_SHUTDOWN_RCV | VSOCK_FLAGS_SHUTDOWN_SEND);
                self.finish_tx_side();
            }
            _ => self.reset("unexpected packet for the connection state"),
        }
    }

    fn receive_guest_data(&mut self, pkt: &Packet<'_>) {
        if self.peer_shutdown & VSOCK_FLAGS_SHUTDOWN_SEND != 0 {
            self.reset("guest sent data after shutting down");
            return;
        }
        let Some(data) = pkt.data_slice() else {
            return;
        };
        let len = data.len();
        let fits = self
            .tx_buffered()
            .checked_add(len)
            .is_some_and(|total| total <= CONN_TX_BUF_SIZE as usize);
        if !fits {
            self.reset("guest sent more than its credit");
            return;
        }
        // Copy first, then send from our buffer: the guest cannot change the
        // bytes under us, and send(2) takes MSG_NOSIGNAL.
        let start = self.tx_buf.len();
        self.tx_buf.resize(start + len, 0);
        data.copy_to(&mut self.tx_buf[start..]);
        self.flush_tx();
    }

    /// Accounts `n` guest bytes as written to the Unix socket.
    fn count_forwarded(&mut self, n: usize) {
        // `n` is at most CONN_TX_BUF_SIZE, so it fits in a u32.
        self.fwd_cnt += Wrapping(u32::try_from(n).unwrap_or(u32::MAX));
        if (self.fwd_cnt - self.last_fwd_cnt_sent).0 >= CONN_CREDIT_UPDATE_THRESHOLD {
            self.credit_update_pending = true;
        }
    }

    /// Writes buffered guest data to the Unix socket.
    fn flush_tx(&mut self) {
        while !self.tx_buf.is_empty() {
            match send_nosignal(&self.stream, &self.tx_buf) {
                Ok(0) => break,
                Ok(n) => {
                    let counted = n.saturating_sub(self.tx_uncounted);
                    self.tx_uncounted = self.tx_uncounted.saturating_sub(n);
                    self.tx_buf.drain(..n);
                    self.count_forwarded(counted);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.reset("host socket write failed");
                    return;
                }
            }
        }
        if self.tx_buf.is_empty() && self.tx_buf.capacity() > MAX_PKT_BUF_SIZE as usize {
            // Give back what a burst made us allocate.
            self.tx_buf = Vec::new();
        }
        self.finish_tx_side();
    }

    /// Once the guest's data is all written, honours its SHUTDOWN: shut the
    /// Unix write half, and close when both directions are done.
    fn finish_tx_side(&mut self) {
        if !self.tx_buf.is_empty() || self.peer_shutdown & VSOCK_FLAGS_SHUTDOWN_SEND == 0 {
            return;
        }
        if !self.write_shut {
            self.write_shut = true;
            // Fails only if the peer is gone, which a later read reports.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
        let host_done =
            self.peer_shutdown & VSOCK_FLAGS_SHUTDOWN_RCV != 0 || self.eof_sent || self.eof_pending;
        if host_done {
            // Both directions are finished: the guest gets an RST, which
            // completes its close, and the Unix socket is closed.
            self.rst_pending = true;
        }
    }

    /// Handles readiness of the Unix socket.
    pub(crate) fn handle_stream_event(&mut self, set: EventSet) {
        if self.state == ConnState::Closed || self.rst_pending {
            return;
        }
        let hung_up = EventSet::READ_HANG_UP | EventSet::HANG_UP | EventSet::ERROR;
        if self.state == ConnState::LocalInit && set.intersects(hung_up) {
            // The host client left before the guest accepted: withdraw the
            // request.
            self.rst_pending = true;
            return;
        }
        if set.intersects(EventSet::IN | EventSet::HANG_UP | EventSet::ERROR)
            && self.can_read_stream()
        {
            self.readable = true;
        }
        if set.intersects(EventSet::OUT | EventSet::HANG_UP | EventSet::ERROR)
            && !self.tx_buf.is_empty()
        {
            self.flush_tx();
        }
    }

    /// Writes the next packet for the guest into `pkt`; returns its used
    /// length, or `None` if there is nothing to send.
    pub(crate) fn fill_rx(&mut self, pkt: &mut Packet<'_>, guest_cid: u64) -> Option<u32> {
        if self.guest_gone() {
            return None;
        }
        let (op, flags) = if self.rst_pending {
            self.state = ConnState::Closed;
            (op::RST, 0)
        } else if self.request_pending {
            self.request_pending = false;
            (op::REQUEST, 0)
        } else if self.response_pending {
            self.response_pending = false;
            self.state = ConnState::Established;
            (op::RESPONSE, 0)
        } else if self.eof_pending {
            self.eof_pending = false;
            self.eof_sent = true;
            self.finish_tx_side();
            (op::SHUTDOWN, VSOCK_FLAGS_SHUTDOWN_SEND)
        } else if let Some(len) = self.read_stream_into(pkt, guest_cid) {
            return Some(len);
        } else if self.credit_update_pending {
            (op::CREDIT_UPDATE, 0)
        } else {
            return None;
        };
        if init_rx_header(pkt, guest_cid, self.local_port, self.peer_port, op).is_err() {
            return None;
        }
        pkt.set_flags(flags);
        self.set_credit_fields(pkt);
        Some(HEADER_LEN)
    }

    /// Every packet tells the guest our buffer space and consumption.
    fn set_credit_fields(&mut self, pkt: &mut Packet<'_>) {
        pkt.set_buf_alloc(CONN_TX_BUF_SIZE)
            .set_fwd_cnt(self.fwd_cnt.0);
        self.last_fwd_cnt_sent = self.fwd_cnt;
        self.credit_update_pending = false;
    }

    /// Reads from the Unix socket into an RW packet, within the guest's
    /// credit. On EOF or error, queues SHUTDOWN or RST instead and returns
    /// that packet.
    fn read_stream_into(&mut self, pkt: &mut Packet<'_>, guest_cid: u64) -> Option<u32> {
        if !self.readable || !self.can_read_stream() {
            return None;
        }
        let credit = self.peer_credit();
        let data = pkt.data_slice()?;
        let max = data
            .len()
            .min(usize::try_from(credit.min(MAX_PKT_BUF_SIZE)).unwrap_or(0));
        if max == 0 {
            return None;
        }
        let mut window: VolatileSlice<'_, ()> = data.subslice(0, max).ok()?;
        let n = loop {
            match self.stream.read_volatile(&mut window) {
                Ok(n) => break n,
                Err(VolatileMemoryError::IOError(e)) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_would_block(&e) => {
                    self.readable = false;
                    return None;
                }
                Err(_) => {
                    self.reset("host socket read failed");
                    return self.fill_rx(pkt, guest_cid);
                }
            }
        };
        if n == 0 {
            self.readable = false;
            self.eof_pending = true;
            return self.fill_rx(pkt, guest_cid);
        }
        // `n <= max <= MAX_PKT_BUF_SIZE`.
        let len = u32::try_from(n).ok()?;
        init_rx_header(pkt, guest_cid, self.local_port, self.peer_port, op::RW).ok()?;
        pkt.set_len(len);
        self.set_credit_fields(pkt);
        self.rx_cnt += Wrapping(len);
        HEADER_LEN.checked_add(len)
    }
}

/// Writes to a Unix socket without raising SIGPIPE if the peer is gone.
fn send_nosignal(stream: &UnixStream, buf: &[u8]) -> std::io::Result<usize> {
    let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
    Ok(send(stream.as_raw_fd(), buf, flags)?)
}

fn is_would_block(e: &VolatileMemoryError) -> bool {
    matches!(e, VolatileMemoryError::IOError(e) if e.kind() == ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::vsock::test_utils::{TestContext, TestHeader};

    #[test]
    fn host_data_respects_the_guest_credit() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(6);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 100);
        host.write_all(&[7u8; 1000]).unwrap();
        ctx.run();
        let (_, data) = ctx.expect(op::RW, 52, 5000);
        assert_eq!(data, [7u8; 100]);
        // Out of credit: nothing more, and the event loop is idle.
        assert!(ctx.recv().is_none());

        // The guest consumed the 100 bytes.
        let mut update = TestHeader::guest(op::CREDIT_UPDATE, 5000, 52);
        update.buf_alloc = 100;
        update.fwd_cnt = 100;
        ctx.send(update, &[]);
        let (_, data) = ctx.expect(op::RW, 52, 5000);
        assert_eq!(data.len(), 100);
        assert!(ctx.recv().is_none());

        // A guest claiming to have consumed more than it got gets nothing.
        update.fwd_cnt = 5000;
        ctx.send(update, &[]);
        assert!(ctx.recv().is_none());

        // A bigger buffer: the rest, packet by packet within RX_DATA_LEN.
        update.buf_alloc = 1 << 20;
        update.fwd_cnt = 200;
        ctx.send(update, &[]);
        let (_, data) = ctx.expect(op::RW, 52, 5000);
        assert_eq!(data.len(), 800);
    }

    #[test]
    fn guest_exceeding_its_credit_is_reset() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(8);
        // The host never reads.
        let _host = ctx.guest_connect(&listener, 5000, 52, 4096);
        let chunk = vec![1u8; MAX_PKT_BUF_SIZE as usize];
        let mut sent = 0usize;
        for _ in 0..64 {
            ctx.send_data(5000, 52, &chunk);
            sent += chunk.len();
            if ctx.connections() == 0 {
                break;
            }
        }
        assert_eq!(ctx.connections(), 0, "never reset after {sent} bytes");
        assert!(sent > CONN_TX_BUF_SIZE as usize);
        // Credit updates for what the socket took, then the RST.
        let mut last = ctx.recv().unwrap().0;
        while let Some((hdr, _)) = ctx.recv() {
            assert_eq!(last.op, op::CREDIT_UPDATE);
            last = hdr;
        }
        assert_eq!(last.op, op::RST);
    }

    #[test]
    fn slow_host_reader_gets_everything_in_order() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(8);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 4096);
        let total = CONN_TX_BUF_SIZE as usize;
        let pattern: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        for chunk in pattern.chunks(MAX_PKT_BUF_SIZE as usize) {
            ctx.send_data(5000, 52, chunk);
        }
        let mut received = vec![0u8; total];
        let mut got = 0;
        while got < total {
            let n = host.read(&mut received[got..]).unwrap();
            assert_ne!(n, 0);
            got += n;
            // Lets the device write what it buffered.
            ctx.run();
        }
        assert_eq!(received, pattern);
        // The host consumed a lot: the guest heard about it.
        let mut last_fwd_cnt = 0;
        while let Some((hdr, _)) = ctx.recv() {
            assert_eq!(hdr.op, op::CREDIT_UPDATE);
            assert_eq!(hdr.buf_alloc, CONN_TX_BUF_SIZE);
            last_fwd_cnt = hdr.fwd_cnt;
        }
        assert!(last_fwd_cnt >= CONN_TX_BUF_SIZE - CONN_CREDIT_UPDATE_THRESHOLD);
    }

    /// Has the guest send `total` bytes on its connection 5000 -> 52 while
    /// the host reads nothing (the socket fills, the rest stays buffered),
    /// then close it as Linux does when the host has not finished a closed
    /// connection within 8 s: SHUTDOWN, then RST.
    fn guest_sends_then_resets(ctx: &mut TestContext, total: usize) -> (UnixStream, Vec<u8>) {
        let listener = ctx.host_listen(52);
        let host = ctx.guest_connect(&listener, 5000, 52, 4096);
        let pattern: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        for chunk in pattern.chunks(MAX_PKT_BUF_SIZE as usize) {
            ctx.send_data(5000, 52, chunk);
        }
        let mut shutdown = TestHeader::guest(op::SHUTDOWN, 5000, 52);
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_RCV | VSOCK_FLAGS_SHUTDOWN_SEND;
        ctx.send(shutdown, &[]);
        // Credit updates for what the socket took so far.
        while ctx.recv().is_some() {}
        ctx.send_op(op::RST, 5000, 52);
        (host, pattern)
    }

    #[test]
    fn guest_reset_after_its_data_still_delivers_it() {
        let mut ctx = TestContext::active();
        ctx.post_rx(8);
        let (mut host, sent) = guest_sends_then_resets(&mut ctx, CONN_TX_BUF_SIZE as usize);
        // The guest's connection is gone at once (its port is free)...
        assert_eq!(ctx.connections(), 0);
        // ...but every byte it sent reaches the host, then EOF.
        let received = ctx.read_to_eof(&mut host);
        assert_eq!(received.len(), sent.len(), "bytes received");
        assert!(received == sent, "the bytes differ");
        assert_eq!(ctx.draining(), 0);
        // Nothing goes to a guest that reset the connection.
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn draining_ends_when_the_host_reader_leaves() {
        let mut ctx = TestContext::active();
        ctx.post_rx(8);
        let (host, _) = guest_sends_then_resets(&mut ctx, CONN_TX_BUF_SIZE as usize);
        assert_eq!(ctx.draining(), 1);
        drop(host);
        ctx.run();
        assert_eq!(ctx.draining(), 0);
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn credit_request_gets_a_credit_update() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(2);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 4096);
        ctx.send_data(5000, 52, b"abc");
        let mut buf = [0u8; 3];
        host.read_exact(&mut buf).unwrap();
        ctx.send_op(op::CREDIT_REQUEST, 5000, 52);
        let (hdr, _) = ctx.expect(op::CREDIT_UPDATE, 52, 5000);
        assert_eq!((hdr.buf_alloc, hdr.fwd_cnt), (CONN_TX_BUF_SIZE, 3));
    }

    #[test]
    fn data_after_guest_shutdown_is_reset() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(2);
        let _host = ctx.guest_connect(&listener, 5000, 52, 4096);
        let mut shutdown = TestHeader::guest(op::SHUTDOWN, 5000, 52);
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_SEND;
        ctx.send(shutdown, &[]);
        ctx.send_data(5000, 52, b"late");
        ctx.expect(op::RST, 52, 5000);
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn guest_rst_closes_the_host_socket() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(2);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 4096);
        ctx.send_op(op::RST, 5000, 52);
        assert_eq!(ctx.connections(), 0);
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).unwrap();
        // No reply to an RST.
        assert!(ctx.recv().is_none());
    }

    #[test]
    fn host_closing_while_guest_writes_resets() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(4);
        let host = ctx.guest_connect(&listener, 5000, 52, 4096);
        drop(host);
        ctx.run();
        let (hdr, _) = ctx.expect(op::SHUTDOWN, 52, 5000);
        assert_eq!(hdr.flags, VSOCK_FLAGS_SHUTDOWN_SEND);
        ctx.send_data(5000, 52, b"anyone?");
        ctx.expect(op::RST, 52, 5000);
        assert_eq!(ctx.connections(), 0);
    }

    #[test]
    fn guest_half_close_stops_host_reads() {
        let mut ctx = TestContext::active();
        let listener = ctx.host_listen(52);
        ctx.post_rx(4);
        let mut host = ctx.guest_connect(&listener, 5000, 52, 4096);
        let mut shutdown = TestHeader::guest(op::SHUTDOWN, 5000, 52);
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_RCV;
        ctx.send(shutdown, &[]);
        host.write_all(b"unwanted").unwrap();
        ctx.run();
        assert!(ctx.recv().is_none());
        // Still writable from the guest.
        ctx.send_data(5000, 52, b"still here");
        let mut buf = [0u8; 10];
        host.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still here");
        // The other half: both done, so RST.
        shutdown.flags = VSOCK_FLAGS_SHUTDOWN_SEND;
        ctx.send(shutdown, &[]);
        ctx.expect(op::RST, 52, 5000);
        assert_eq!(ctx.connections(), 0);
    }
}
