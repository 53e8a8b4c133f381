//! Virtqueues as the guest can lay them out, walked by the real devices
//! (vsock, virtio-fs, virtio-rng and virtio-net, which has frames from the
//! host waiting) behind the real virtio-mmio transport and event loop: descriptors whose buffers cross a region end or the MMIO gap at
//! 0xd000_0000 or wrap past `u64::MAX`, loops, chains longer than the
//! queue, indirect tables (nested too), avail idx jumps, rings placed
//! anywhere, and register writes at any time.
//!
//! Input: a device byte (mod 4: vsock, fs, rng, net); per queue a size byte
//! (bit 7 clear: `1 << (b % 11)`, else a raw u16 follows) and a placement
//! byte (0 mod 4: the standard layout, else three addresses); then ops
//! until the input ends, each an opcode byte (mod 8):
//! 0 descriptor (queue u8, index u16, addr, len u32, flags u16, next u16),
//! 1 bytes (addr, n u8, n bytes), 2 avail entry (queue u8, head u16),
//! 3 avail idx (queue u8, idx u16), 4 kick (queue u8),
//! 5 indirect table (addr, n u8 mod 16, n x (addr, len u32, flags u16, next u16)),
//! 6 register write (offset u16 & 0xfc, value u32),
//! 7 chain (queue u8, first u16, n u8 mod 8, n x (addr, len u32, flags u16)).
//! An address is a kind byte and a u32 (see `runvm_fuzz::addr`). At the end
//! every queue is kicked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runvm_fuzz::{read_addr, read_chain, run_sandboxed, Cursor, QueueLayout, Rig};

fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let device = c.u8() % 4;
    let nqueues = match device {
        0 => virtio::vsock::NUM_QUEUES,
        1 => virtio::fs::NUM_QUEUES,
        2 => virtio::rng::NUM_QUEUES,
        _ => virtio::net::NUM_QUEUES,
    };
    let mut layouts = Vec::new();
    for index in 0..nqueues {
        let s = c.u8();
        let size = if s & 0x80 == 0 {
            1 << (s % 11)
        } else {
            c.u16()
        };
        let layout = if c.u8() % 4 == 0 {
            QueueLayout::standard(index, size)
        } else {
            QueueLayout {
                size,
                desc: read_addr(&mut c),
                avail: read_addr(&mut c),
                used: read_addr(&mut c),
            }
        };
        layouts.push(layout);
    }
    // The host's end of the net device's backend, kept open to the end.
    let mut net_host = None;
    let mut rig = match device {
        0 => Rig::vsock(layouts),
        1 => Rig::fs(layouts),
        2 => Rig::rng(layouts),
        _ => {
            let (rig, host) = Rig::net(layouts, true);
            for len in [60, 3000] {
                let mut frame = vec![0u8; virtio::net::VNET_HDR_LEN + len];
                frame[virtio::net::VNET_HDR_LEN..].fill(0xa5);
                host.send(&frame).expect("a frame for the guest");
            }
            net_host = Some(host);
            rig
        }
    };
    rig.driver.activate();
    rig.settle();
    let queue = |c: &mut Cursor| usize::from(c.u8()) % nqueues;
    while !c.is_empty() {
        match c.u8() % 8 {
            0 => {
                let q = queue(&mut c);
                let index = c.u16();
                let desc = (read_addr(&mut c), c.u32(), c.u16(), c.u16());
                rig.driver.store_desc(q, index, desc);
            }
            1 => {
                let at = read_addr(&mut c);
                let n = usize::from(c.u8());
                let bytes = c.bytes(n);
                let _ = vm_memory::Bytes::write_slice(
                    &rig.driver.mem,
                    bytes,
                    vm_memory::GuestAddress(at),
                );
            }
            2 => {
                let q = queue(&mut c);
                rig.driver.push_avail(q, c.u16());
            }
            3 => {
                let q = queue(&mut c);
                rig.driver.set_avail_idx(q, c.u16());
            }
            4 => {
                let q = c.u8();
                rig.kick(u32::from(q) % (nqueues as u32 + 1));
            }
            5 => {
                let at = read_addr(&mut c);
                let n = u64::from(c.u8() % 16);
                for i in 0..n {
                    let desc = (read_addr(&mut c), c.u32(), c.u16(), c.u16());
                    rig.driver.store_raw_desc(at.wrapping_add(16 * i), desc);
                }
            }
            6 => rig.write_reg_from(&mut c),
            _ => {
                let q = queue(&mut c);
                let first = c.u16();
                let descs = read_chain(&mut c);
                if !descs.is_empty() {
                    rig.driver.add_chain(q, first, &descs);
                }
            }
        }
    }
    for q in 0..nqueues as u32 {
        rig.kick(q);
    }
    drop(net_host);
}

fuzz_target!(|data: &[u8]| run_sandboxed(run, data));
