//! Frames both ways through the virtio-net device behind the real
//! virtio-mmio transport and event loop, with a backend that moves frames
//! like a tap (a Unix datagram pair; the target holds the host's end):
//! tx chains of any shape and length (split headers, indirect tables,
//! device-writable buffers, oversized), rx buffers of any size posted or
//! not, frames from the host with any header (offloads the driver did not
//! take, runts, oversized), raw chains anywhere, and register writes at
//! any time.
//!
//! Input: whether the backend takes offloads (byte, bit 0), the low 32
//! feature bits the driver accepts of those offered (u32); then ops until
//! the input ends, each an opcode byte (mod 8):
//! 0-2 a tx frame: the 12 header bytes, a u16 length (the frame's bytes
//!     follow, zero past the input's end), laid out as (op) 0 header and
//!     frame in one descriptor, 1 header then frame, 2 an indirect table
//!     of the header split in two and the frame;
//! 3 the host sends a frame: 12 header bytes, a u16 length (mod 70000
//!   after adding a u8 times 65536), its bytes;
//! 4 the guest posts n (u8 mod 8) rx chains of one buffer of u16 bytes
//!   (mod 16 KiB) each, device-writable if bit 7 of n is clear, and kicks;
//! 5 a raw chain (queue u8, first u16, n u8 mod 8, n x (addr, len u32,
//!   flags u16)) and a kick of its queue;
//! 6 register write (offset u16 & 0xfc, value u32);
//! 7 the host reads every frame the guest sent (each at most a header and
//!   the largest frame).
//! An address is a kind byte and a u32 (see `runvm_fuzz::addr`). At the end
//! both queues are kicked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runvm_fuzz::{
    read_addr, run_sandboxed, Cursor, QueueLayout, Rig, BUF_BASE, DESC_F_INDIRECT, DESC_F_NEXT,
    DESC_F_WRITE,
};
use virtio::net::{MAX_FRAME_LEN, NUM_QUEUES, RX_QUEUE, TX_QUEUE, VNET_HDR_LEN};
use vm_memory::{Bytes, GuestAddress};

const QUEUE_SIZE: u16 = 16;
const HDR_LEN: u32 = VNET_HDR_LEN as u32;
/// tx: the frame (up to 64 KiB and a header), then an indirect table.
const TX_FRAME: u64 = BUF_BASE;
const TX_INDIRECT: u64 = BUF_BASE + 0x1_1000;
/// rx: one 16 KiB buffer per descriptor index.
const RX_BUFS: u64 = BUF_BASE + 0x1_2000;
const RX_SLOT: u64 = 0x4000;

fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let takes_offloads = c.u8() & 1 != 0;
    let low_features = u64::from(c.u32());
    let layouts = (0..NUM_QUEUES)
        .map(|i| QueueLayout::standard(i, QUEUE_SIZE))
        .collect();
    let (mut rig, host) = Rig::net(layouts, takes_offloads);
    assert!(
        rig.driver.activate_acking(!0 << 32 | low_features),
        "a well-formed driver activates the device"
    );
    rig.settle();
    let mut next_rx: u16 = 0;
    let mut frame = vec![0u8; 0x1_2000];
    while !c.is_empty() {
        let opcode = c.u8() % 8;
        match opcode {
            0..=2 => {
                let mut hdr = [0u8; VNET_HDR_LEN];
                let raw = c.bytes(VNET_HDR_LEN);
                hdr[..raw.len()].copy_from_slice(raw);
                let len = usize::from(c.u16());
                let body = c.bytes(len);
                let total = VNET_HDR_LEN + len;
                frame[..VNET_HDR_LEN].copy_from_slice(&hdr);
                frame[VNET_HDR_LEN..VNET_HDR_LEN + body.len()].copy_from_slice(body);
                frame[VNET_HDR_LEN + body.len()..total].fill(0);
                let d = &rig.driver;
                d.mem
                    .write_slice(&frame[..total], GuestAddress(TX_FRAME))
                    .unwrap();
                let len = len as u32;
                match opcode {
                    0 => {
                        d.add_chain(TX_QUEUE, 0, &[(TX_FRAME, HDR_LEN + len, 0)]);
                    }
                    1 => {
                        d.add_chain(
                            TX_QUEUE,
                            0,
                            &[(TX_FRAME, HDR_LEN, 0), (TX_FRAME + 12, len, 0)],
                        );
                    }
                    _ => {
                        d.store_raw_desc(TX_INDIRECT, (TX_FRAME, 5, DESC_F_NEXT, 1));
                        d.store_raw_desc(TX_INDIRECT + 16, (TX_FRAME + 5, 7, DESC_F_NEXT, 2));
                        d.store_raw_desc(TX_INDIRECT + 32, (TX_FRAME + 12, len, 0, 0));
                        d.add_chain(TX_QUEUE, 0, &[(TX_INDIRECT, 48, DESC_F_INDIRECT)]);
                    }
                }
                rig.kick(TX_QUEUE as u32);
            }
            3 => {
                let mut sent = c.bytes(VNET_HDR_LEN).to_vec();
                let len = (usize::from(c.u8()) << 16 | usize::from(c.u16())) % 70_000;
                sent.extend_from_slice(c.bytes(len));
                sent.resize(VNET_HDR_LEN + len, 0);
                // A full socket buffer is the host's problem, as on a tap.
                let _ = host.send(&sent);
                rig.settle();
            }
            4 => {
                let n = c.u8();
                let flags = if n & 0x80 == 0 { DESC_F_WRITE } else { 0 };
                for _ in 0..n % 8 {
                    let len = u32::from(c.u16()) % RX_SLOT as u32;
                    let slot = u64::from(next_rx % QUEUE_SIZE);
                    rig.driver.add_chain(
                        RX_QUEUE,
                        next_rx,
                        &[(RX_BUFS + slot * RX_SLOT, len, flags)],
                    );
                    next_rx = next_rx.wrapping_add(1);
                }
                rig.kick(RX_QUEUE as u32);
            }
            5 => {
                let q = usize::from(c.u8()) % NUM_QUEUES;
                let first = c.u16();
                let n = c.u8() % 8;
                let descs: Vec<_> = (0..n)
                    .map(|_| (read_addr(&mut c), c.u32(), c.u16()))
                    .collect();
                if !descs.is_empty() {
                    rig.driver.add_chain(q, first, &descs);
                }
                rig.kick(q as u32);
            }
            6 => {
                let offset = u64::from(c.u16() & 0xfc);
                let value = c.u32();
                rig.driver.write_reg(offset, value);
                rig.settle();
            }
            _ => {
                let mut buf = vec![0u8; VNET_HDR_LEN + MAX_FRAME_LEN + 1];
                while let Ok(len) = host.recv(&mut buf) {
                    assert!(
                        (VNET_HDR_LEN..=VNET_HDR_LEN + MAX_FRAME_LEN).contains(&len),
                        "the device wrote a {len}-byte frame"
                    );
                }
            }
        }
    }
    for q in 0..NUM_QUEUES as u32 {
        rig.kick(q);
    }
}

fuzz_target!(|data: &[u8]| run_sandboxed(run, data));
