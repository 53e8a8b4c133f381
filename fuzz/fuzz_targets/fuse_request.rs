//! FUSE requests from the guest, decoded by fuse-backend-rs's server and
//! served by SecureFs over PassthroughFs on a share re-seeded for every
//! input (a file, a directory, symlinks relative, absolute and climbing
//! out, a FIFO) in a temporary directory. The serving thread is confined
//! to that share by Landlock, so nothing the requests do can reach a file
//! outside it (and the harness checks that before the first input).
//!
//! Input: a flags byte (bit 0: no automatic FUSE INIT first), then requests
//! until it ends, each: opcode (u8; 0xff: a u32 follows), nodeid (u8;
//! 0xff: a u64 follows), credentials (u8: 0 root, 1 uid/gid 1000, else two
//! u32), body length (u16 mod 0x3000) and body, length field (u8: 0xff a
//! raw u32 follows, else the true length), layout (u8: bit 0 split the
//! request in two descriptors at byte u8 * len / 256 (the next byte), bit 1
//! split the reply in two, bit 2 the high-priority queue), reply size (u8:
//! 0 none, 0xff the rest of low RAM (crossing a region boundary), else
//! n * 256 bytes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use runvm_fuzz::{run_sandboxed, Cursor, QueueLayout, Rig, BUF_BASE, DESC_F_WRITE, LOW2_END};
use virtio::fs::{HIPRIO_QUEUE, REQUEST_QUEUE};
use vm_memory::{Bytes, GuestAddress};

const QUEUE_SIZE: u16 = 64;
const REQUEST: u64 = BUF_BASE;
const REPLY: u64 = BUF_BASE + 0x4000;
const IN_HEADER_LEN: usize = 40;
const FUSE_INIT: u32 = 26;

/// The INIT a Linux 6.1 guest sends (major 7, minor 36; flags and flags2
/// of what it supports).
fn init_body() -> Vec<u8> {
    let mut body = Vec::new();
    for word in [7u32, 36, 0x2_0000, 0x73ff_fffb, 0x0000_0003] {
        body.extend_from_slice(&word.to_le_bytes());
    }
    body.resize(64, 0);
    body
}

struct Request<'a> {
    opcode: u32,
    nodeid: u64,
    uid: u32,
    gid: u32,
    body: &'a [u8],
    len: Option<u32>,
    layout: u8,
    split: u8,
    reply: u8,
}

fn send(rig: &mut Rig, unique: u64, r: &Request) {
    let total = IN_HEADER_LEN + r.body.len();
    let mut bytes = Vec::with_capacity(total);
    bytes.extend_from_slice(&r.len.unwrap_or(total as u32).to_le_bytes());
    bytes.extend_from_slice(&r.opcode.to_le_bytes());
    bytes.extend_from_slice(&unique.to_le_bytes());
    bytes.extend_from_slice(&r.nodeid.to_le_bytes());
    bytes.extend_from_slice(&r.uid.to_le_bytes());
    bytes.extend_from_slice(&r.gid.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes()); // pid
    bytes.extend_from_slice(&[0u8; 4]); // total_extlen, padding
    bytes.extend_from_slice(r.body);
    rig.driver
        .mem
        .write_slice(&bytes, GuestAddress(REQUEST))
        .expect("request fits its buffer");
    let total = total as u32;
    let mut chain = Vec::new();
    if r.layout & 1 != 0 {
        let first = (u64::from(total) * u64::from(r.split) / 256) as u32;
        chain.push((REQUEST, first, 0));
        chain.push((REQUEST + u64::from(first), total - first, 0));
    } else {
        chain.push((REQUEST, total, 0));
    }
    let reply_len = match r.reply {
        0 => 0,
        0xff => (LOW2_END - REPLY) as u32,
        n => u32::from(n) * 256,
    };
    if reply_len > 0 {
        if r.layout & 2 != 0 {
            let half = reply_len / 2;
            chain.push((REPLY, half, DESC_F_WRITE));
            chain.push((REPLY + u64::from(half), reply_len - half, DESC_F_WRITE));
        } else {
            chain.push((REPLY, reply_len, DESC_F_WRITE));
        }
    }
    let queue = if r.layout & 4 != 0 {
        HIPRIO_QUEUE
    } else {
        REQUEST_QUEUE
    };
    rig.driver.add_chain(queue, 0, &chain);
    rig.kick(queue as u32);
}

fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let layouts = (0..virtio::fs::NUM_QUEUES)
        .map(|i| QueueLayout::standard(i, QUEUE_SIZE))
        .collect();
    let mut rig = Rig::fs(layouts);
    assert!(
        rig.driver.activate(),
        "a well-formed driver activates the device"
    );
    rig.settle();
    let mut unique = 1u64;
    if flags & 1 == 0 {
        let body = init_body();
        let init = Request {
            opcode: FUSE_INIT,
            nodeid: 0,
            uid: 0,
            gid: 0,
            body: &body,
            len: None,
            layout: 0,
            split: 0,
            reply: 1,
        };
        send(&mut rig, unique, &init);
    }
    while !c.is_empty() {
        unique += 1;
        let opcode = match c.u8() {
            0xff => c.u32(),
            op => u32::from(op),
        };
        let nodeid = match c.u8() {
            0xff => c.u64(),
            n => u64::from(n),
        };
        let (uid, gid) = match c.u8() {
            0 => (0, 0),
            1 => (1000, 1000),
            _ => (c.u32(), c.u32()),
        };
        let n = usize::from(c.u16() % 0x3000);
        let body = c.bytes(n);
        let len = match c.u8() {
            0xff => Some(c.u32()),
            _ => None,
        };
        let layout = c.u8();
        let split = c.u8();
        let reply = c.u8();
        let request = Request {
            opcode,
            nodeid,
            uid,
            gid,
            body,
            len,
            layout,
            split,
            reply,
        };
        send(&mut rig, unique, &request);
    }
}

fuzz_target!(|data: &[u8]| run_sandboxed(run, data));
