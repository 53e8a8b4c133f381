//! vsock packets from the guest, through the device's tx path (header and
//! payload parsing, the muxer, connections to host Unix sockets) and back
//! on the rx path, with a host side that listens, connects, talks and
//! hangs up. The rings are well formed; the packets are not.
//!
//! Input: ops until it ends, each an opcode byte (mod 8):
//! 0-3 a packet, laid out as (op): 0 header and payload in one descriptor,
//!     1 header then payload, 2 the header split over two descriptors, then
//!     the payload, 3 an indirect table of header and payload; then a fixup
//!     byte (bit 0: src_cid = the guest's, 1: dst_cid = host, 2: type =
//!     stream, 3: len = the payload's length, 4: op = bits 5-7), the 44
//!     header bytes, a u16 payload length (mod 4097) and the payload;
//! 4 the guest posts n (u8 mod 8) rx buffers and kicks;
//! 5 the host accepts guest connections (port 52) and writes n (u8) bytes
//!   on each of its sockets;
//! 6 the host closes all its sockets;
//! 7 the host connects to the device's socket for guest port u16
//!   (`CONNECT <port>\n`).

#![no_main]

use std::io::Write;
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use runvm_fuzz::{
    dirs, run_sandboxed, Cursor, QueueLayout, Rig, BUF_BASE, DESC_F_INDIRECT, DESC_F_NEXT,
    DESC_F_WRITE, GUEST_CID,
};
use virtio::vsock::{RX_QUEUE, TX_QUEUE, VSOCK_HOST_CID, VSOCK_TYPE_STREAM};
use vm_memory::{Bytes, GuestAddress};

const QUEUE_SIZE: u16 = 16;
const TX_HDR: u64 = BUF_BASE;
const TX_DATA: u64 = BUF_BASE + 0x100;
const TX_INDIRECT: u64 = BUF_BASE + 0x2000;
const RX_BUFS: u64 = BUF_BASE + 0x1_0000;
const RX_DATA_LEN: u32 = 4096;

fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let layouts = (0..virtio::vsock::NUM_QUEUES)
        .map(|i| QueueLayout::standard(i, QUEUE_SIZE))
        .collect();
    let mut rig = Rig::vsock(layouts);
    assert!(
        rig.driver.activate(),
        "a well-formed driver activates the device"
    );
    rig.settle();
    let mut hosts: Vec<UnixStream> = Vec::new();
    let mut next_rx: u16 = 0;
    while !c.is_empty() {
        let opcode = c.u8() % 8;
        match opcode {
            0..=3 => {
                let fix = c.u8();
                let mut hdr = [0u8; 44];
                let raw = c.bytes(44);
                hdr[..raw.len()].copy_from_slice(raw);
                let n = usize::from(c.u16() % 4097);
                let payload = c.bytes(n);
                if fix & 1 != 0 {
                    hdr[0..8].copy_from_slice(&GUEST_CID.to_le_bytes());
                }
                if fix & 2 != 0 {
                    hdr[8..16].copy_from_slice(&VSOCK_HOST_CID.to_le_bytes());
                }
                if fix & 4 != 0 {
                    hdr[28..30].copy_from_slice(&VSOCK_TYPE_STREAM.to_le_bytes());
                }
                if fix & 8 != 0 {
                    hdr[24..28].copy_from_slice(&(payload.len() as u32).to_le_bytes());
                }
                if fix & 0x10 != 0 {
                    hdr[30..32].copy_from_slice(&u16::from(fix >> 5).to_le_bytes());
                }
                let mem = &rig.driver.mem;
                mem.write_slice(&hdr, GuestAddress(TX_HDR)).unwrap();
                mem.write_slice(payload, GuestAddress(TX_DATA)).unwrap();
                let plen = payload.len() as u32;
                let d = &rig.driver;
                match opcode {
                    0 => {
                        mem.write_slice(&hdr, GuestAddress(TX_DATA - 44)).unwrap();
                        d.add_chain(TX_QUEUE, 0, &[(TX_DATA - 44, 44 + plen, 0)]);
                    }
                    1 => {
                        let mut chain = vec![(TX_HDR, 44, 0)];
                        if plen > 0 {
                            chain.push((TX_DATA, plen, 0));
                        }
                        d.add_chain(TX_QUEUE, 0, &chain);
                    }
                    2 => {
                        d.add_chain(
                            TX_QUEUE,
                            0,
                            &[(TX_HDR, 20, 0), (TX_HDR + 20, 24, 0), (TX_DATA, plen, 0)],
                        );
                    }
                    _ => {
                        d.store_raw_desc(TX_INDIRECT, (TX_HDR, 44, DESC_F_NEXT, 1));
                        d.store_raw_desc(TX_INDIRECT + 16, (TX_DATA, plen, 0, 0));
                        d.add_chain(TX_QUEUE, 0, &[(TX_INDIRECT, 32, DESC_F_INDIRECT)]);
                    }
                }
                rig.kick(TX_QUEUE as u32);
            }
            4 => {
                for _ in 0..c.u8() % 8 {
                    let slot = u64::from(next_rx % QUEUE_SIZE);
                    let hdr = RX_BUFS + slot * 0x1100;
                    rig.driver.add_chain(
                        RX_QUEUE,
                        next_rx,
                        &[
                            (hdr, 44, DESC_F_WRITE),
                            (hdr + 0x40, RX_DATA_LEN, DESC_F_WRITE),
                        ],
                    );
                    next_rx = next_rx.wrapping_add(2);
                }
                rig.kick(RX_QUEUE as u32);
            }
            5 => {
                while let Ok((stream, _)) = dirs().listener.accept() {
                    let _ = stream.set_nonblocking(true);
                    hosts.push(stream);
                }
                let n = usize::from(c.u8());
                let bytes = c.bytes(n);
                for host in &mut hosts {
                    let _ = host.write(bytes);
                }
                rig.settle();
            }
            6 => {
                hosts.clear();
                rig.settle();
            }
            _ => {
                let port = c.u16();
                if let Ok(mut host) = UnixStream::connect(dirs().vsock.join("v.sock")) {
                    let _ = host.set_nonblocking(true);
                    let _ = writeln!(host, "CONNECT {port}");
                    hosts.push(host);
                }
                rig.settle();
            }
        }
    }
}

fuzz_target!(|data: &[u8]| run_sandboxed(run, data));
