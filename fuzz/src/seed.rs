//! Well-formed (and a few deliberately hostile) inputs for each target, in
//! the formats the targets document: the committed seed corpora
//! (`fuzz/corpus/<target>/`) are written from these by
//! `cargo run --manifest-path fuzz/Cargo.toml --bin gen_corpus`.

/// A little-endian byte builder.
#[derive(Default, Clone)]
pub struct B(pub Vec<u8>);

impl B {
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// An address of kind `kind` (see [`crate::addr`]).
    pub fn addr(self, kind: u8, off: u32) -> Self {
        self.u8(kind).u32(off)
    }
}

/// A vsock header: src_cid, dst_cid, src_port, dst_port, len, type, op,
/// flags, buf_alloc, fwd_cnt.
pub fn vsock_hdr(src_port: u32, dst_port: u32, len: u32, op: u16, flags: u32) -> Vec<u8> {
    B::default()
        .u64(crate::GUEST_CID)
        .u64(2)
        .u32(src_port)
        .u32(dst_port)
        .u32(len)
        .u16(1)
        .u16(op)
        .u32(flags)
        .u32(64 * 1024)
        .u32(0)
        .0
}

/// The virtqueue target, vsock or fs, standard rings of size 16.
fn vq(fs: bool) -> B {
    let mut b = B::default().u8(u8::from(fs));
    for _ in 0..if fs { 2 } else { 3 } {
        b = b.u8(4).u8(0);
    }
    b
}

/// virtqueue op 7: a chain on `queue`.
fn vq_chain(b: B, queue: u8, first: u16, descs: &[(u8, u32, u32, u16)]) -> B {
    let mut b = b.u8(7).u8(queue).u16(first).u8(descs.len() as u8);
    for &(kind, off, len, flags) in descs {
        b = b.addr(kind, off).u32(len).u16(flags);
    }
    b
}

fn vq_bytes(b: B, kind: u8, off: u32, bytes: &[u8]) -> B {
    b.u8(1).addr(kind, off).u8(bytes.len() as u8).bytes(bytes)
}

fn fuse_header_and(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
    B::default()
        .u32(40 + body.len() as u32)
        .u32(opcode)
        .u64(7)
        .u64(nodeid)
        .u32(0)
        .u32(0)
        .u32(1)
        .u32(0)
        .bytes(body)
        .0
}

pub fn virtqueue() -> Vec<(&'static str, Vec<u8>)> {
    let w = crate::DESC_F_WRITE;
    let buf = crate::BUF_BASE as u32;
    let mut seeds = Vec::new();
    // vsock: a REQUEST to the listening host port, rx buffers, a reply.
    let req = vsock_hdr(5000, crate::HOST_PORT, 0, 1, 0);
    let b = vq_bytes(vq(false), 0, buf, &req);
    let b = vq_chain(b, 1, 0, &[(0, buf, 44, 0)]).u8(4).u8(1);
    let b = vq_chain(
        b,
        0,
        0,
        &[(0, buf + 0x1000, 44, w), (0, buf + 0x2000, 4096, w)],
    );
    seeds.push(("vsock_request", b.u8(4).u8(0).0));
    // vsock: a header that crosses the end of RAM below the MMIO gap, one
    // in the gap, one past the high region, one wrapping past u64::MAX.
    let b = vq_chain(vq(false), 1, 0, &[(2, 20, 44, 0)]);
    let b = vq_chain(b, 1, 1, &[(3, 0, 44, 0)]);
    let b = vq_chain(b, 1, 2, &[(5, 10, 44, 0)]);
    let b = vq_chain(b, 1, 3, &[(6, 10, 44, 0)]);
    seeds.push(("vsock_gap", b.u8(4).u8(1).0));
    // vsock: a descriptor that loops onto itself, and an avail idx jump.
    let b = vq(false)
        .u8(0)
        .u8(1)
        .u16(0)
        .addr(0, buf)
        .u32(44)
        .u16(1)
        .u16(0);
    let b = b
        .u8(2)
        .u8(1)
        .u16(0)
        .u8(4)
        .u8(1)
        .u8(3)
        .u8(1)
        .u16(0x8000)
        .u8(4)
        .u8(1);
    seeds.push(("vsock_loop_avail_jump", b.0));
    // vsock: an indirect table whose entry is itself indirect.
    let b = vq(false).u8(5).addr(0, buf + 0x3000).u8(2);
    let b = b.addr(0, buf).u32(44).u16(1).u16(1);
    let b = b.addr(0, buf + 0x3000).u32(32).u16(4).u16(0);
    let b = vq_chain(b, 1, 0, &[(0, buf + 0x3000, 32, 4)]);
    seeds.push(("vsock_nested_indirect", b.u8(4).u8(1).0));
    // vsock: rings moved to the high region, a register write mid-flight.
    let mut b = B::default().u8(0);
    for q in 0..3u32 {
        b = b
            .u8(4)
            .u8(1)
            .addr(4, q * 0x4000)
            .addr(4, q * 0x4000 + 0x1000)
            .addr(4, q * 0x4000 + 0x2000);
    }
    let b = b.u8(6).u16(0x70).u32(0).u8(4).u8(1);
    seeds.push(("vsock_high_rings_reset", b.0));
    // fs: INIT then LOOKUP "file", the reply crossing into the next region.
    let mut init = B::default().u32(7).u32(36).u32(0x2_0000).u32(0).0;
    init.resize(64, 0);
    let init = fuse_header_and(26, 0, &init);
    let b = vq(true);
    let b = b.u8(1).addr(0, buf).u8(init.len() as u8).bytes(&init);
    let b = vq_chain(
        b,
        1,
        0,
        &[(0, buf, init.len() as u32, 0), (0, buf + 0x1000, 4096, w)],
    );
    let b = b.u8(4).u8(1);
    let lookup = fuse_header_and(1, 1, b"file\0");
    let b = vq_bytes(b, 0, buf, &lookup);
    let b = vq_chain(
        b,
        1,
        2,
        &[(0, buf, lookup.len() as u32, 0), (1, 0x80, 0x100, w)],
    );
    seeds.push(("fs_init_lookup", b.u8(4).u8(1).0));
    // fs: a request whose descriptors run into the MMIO gap.
    let getattr = fuse_header_and(3, 1, &[0u8; 16]);
    let b = vq_bytes(vq(true), 2, 56, &getattr);
    let b = vq_chain(b, 1, 0, &[(2, 56, 56, 0), (2, 0, 0x1000, w)]);
    seeds.push(("fs_gap", b.u8(4).u8(1).0));
    // rng (device byte 2, one queue of 16): two writable buffers, a
    // device-readable one, and one in the MMIO gap.
    let rng = B::default().u8(2).u8(4).u8(0);
    let b = vq_chain(rng, 0, 0, &[(0, buf, 64, w), (0, buf + 0x1000, 4096, w)]);
    let b = vq_chain(b, 0, 2, &[(0, buf, 64, 0)]);
    let b = vq_chain(b, 0, 3, &[(3, 0, 64, w)]);
    seeds.push(("rng_fill", b.u8(4).u8(0).0));
    seeds
}

pub fn vsock_packet() -> Vec<(&'static str, Vec<u8>)> {
    let pkt = |layout: u8, hdr: Vec<u8>, payload: &[u8]| {
        B::default()
            .u8(layout)
            .u8(0)
            .bytes(&hdr)
            .u16(payload.len() as u16)
            .bytes(payload)
    };
    let port = crate::HOST_PORT;
    let mut seeds = Vec::new();
    // Guest connects to the host, sends data, the host answers, shutdown.
    let mut b = B::default().u8(4).u8(4);
    b.0.extend(pkt(1, vsock_hdr(5000, port, 0, 1, 0), b"").0);
    b.0.extend(pkt(1, vsock_hdr(5000, port, 5, 5, 0), b"hello").0);
    b = b.u8(5).u8(4).bytes(b"pong").u8(4).u8(4);
    b.0.extend(pkt(0, vsock_hdr(5000, port, 0, 7, 0), b"").0);
    b.0.extend(pkt(2, vsock_hdr(5000, port, 0, 4, 3), b"").0);
    seeds.push(("guest_connects", b.u8(4).u8(2).0));
    // The host connects to guest port 1024; the guest accepts and talks.
    let mut b = B::default().u8(4).u8(4).u8(7).u16(1024).u8(4).u8(2);
    b.0.extend(pkt(1, vsock_hdr(1024, 1_073_741_824, 0, 2, 0), b"").0);
    b.0.extend(pkt(3, vsock_hdr(1024, 1_073_741_824, 3, 5, 0), b"abc").0);
    b = b.u8(5).u8(3).bytes(b"xyz").u8(4).u8(4).u8(6).u8(4).u8(4);
    seeds.push(("host_connects", b.0));
    // Lengths that lie, a bad type, credit updates, an RST.
    let mut b = B::default().u8(4).u8(2);
    b.0.extend(pkt(1, vsock_hdr(5001, port, 100_000, 5, 0), b"short").0);
    let mut bad_type = vsock_hdr(5001, port, 0, 1, 0);
    bad_type[28] = 2;
    b.0.extend(pkt(1, bad_type, b"").0);
    b.0.extend(pkt(1, vsock_hdr(5001, port, 0, 6, 0), b"").0);
    b.0.extend(pkt(3, vsock_hdr(5001, port, 0, 3, 0), b"").0);
    seeds.push(("lies", b.0));
    seeds
}

/// One fuse_request request: opcode, nodeid, root creds, body, true
/// length, one descriptor each way, a 4 KiB reply.
fn req(opcode: u8, nodeid: u8, body: &[u8]) -> B {
    B::default()
        .u8(opcode)
        .u8(nodeid)
        .u8(0)
        .u16(body.len() as u16)
        .bytes(body)
        .u8(0)
        .u8(0)
        .u8(0)
        .u8(16)
}

fn cat(reqs: &[B]) -> Vec<u8> {
    let mut out = vec![0u8];
    for r in reqs {
        out.extend_from_slice(&r.0);
    }
    out
}

pub fn fuse_request() -> Vec<(&'static str, Vec<u8>)> {
    let read_in = |fh: u64, size: u32| {
        B::default()
            .u64(fh)
            .u64(0)
            .u32(size)
            .u32(0)
            .u64(0)
            .u32(0)
            .u32(0)
            .0
    };
    let with = |head: Vec<u8>, tail: &[u8]| [head.as_slice(), tail].concat();
    let mut seeds = vec![
        (
            "lookup_open_read",
            cat(&[
                req(1, 1, b"file\0"),
                req(14, 2, &B::default().u32(0).u32(0).0),
                req(15, 2, &read_in(1, 4096)),
                req(18, 2, &[0u8; 24]),
                req(2, 2, &B::default().u64(1).0),
            ]),
        ),
        (
            "create_write_getattr",
            cat(&[
                req(
                    35,
                    1,
                    &with(
                        B::default().u32(0o102).u32(0o644).u32(0o22).u32(0).0,
                        b"new\0",
                    ),
                ),
                req(
                    16,
                    2,
                    &with(
                        B::default()
                            .u64(1)
                            .u64(0)
                            .u32(5)
                            .u32(0)
                            .u64(0)
                            .u32(0)
                            .u32(0)
                            .0,
                        b"hello",
                    ),
                ),
                req(3, 2, &[0u8; 16]),
                req(20, 2, &B::default().u64(1).u32(0).u32(0).0),
            ]),
        ),
        (
            "mkdir_readdir",
            cat(&[
                req(9, 1, &with(B::default().u32(0o755).u32(0o22).0, b"d\0")),
                req(27, 1, &B::default().u32(0).u32(0).0),
                req(28, 1, &read_in(1, 4096)),
                req(44, 1, &read_in(1, 4096)),
                req(29, 1, &read_in(1, 0)),
            ]),
        ),
        (
            "symlinks_and_escapes",
            cat(&[
                req(6, 1, b"s\0/etc/passwd\0"),
                req(1, 1, b"abs\0"),
                req(5, 2, b""),
                req(1, 1, b"..\0"),
                req(1, 1, b"up\0"),
                req(14, 3, &B::default().u32(0).u32(0).0),
                req(1, 1, b"fifo\0"),
                req(14, 4, &B::default().u32(0).u32(0).0),
            ]),
        ),
        (
            "xattrs",
            cat(&[
                req(1, 1, b"file\0"),
                req(21, 2, &with(B::default().u32(3).u32(0).0, b"user.a\0abc")),
                req(22, 2, &with(B::default().u32(64).u32(0).0, b"user.a\0")),
                req(23, 2, &B::default().u32(256).u32(0).0),
                req(24, 2, b"user.a\0"),
                req(
                    21,
                    2,
                    &with(B::default().u32(4).u32(0).0, b"security.capability\0abcd"),
                ),
            ]),
        ),
        (
            "rename_link_unlink_mknod",
            cat(&[
                req(1, 1, b"file\0"),
                req(12, 1, &with(B::default().u64(1).0, b"file\0moved\0")),
                req(13, 2, &with(B::default().u64(2).0, b"hard\0")),
                req(
                    8,
                    1,
                    &with(
                        B::default().u32(0o20644).u32(0x0103).u32(0).u32(0).0,
                        b"dev\0",
                    ),
                ),
                req(10, 1, b"hard\0"),
                req(11, 1, b"dir\0"),
                req(17, 1, b""),
            ]),
        ),
        (
            "setattr_and_lies",
            cat(&[
                req(1, 1, b"file\0"),
                req(
                    4,
                    2,
                    &B::default()
                        .u32(1 | 8)
                        .u32(0)
                        .u64(0)
                        .u64(1 << 40)
                        .bytes(&[0u8; 40])
                        .u32(0o4777)
                        .bytes(&[0u8; 16])
                        .0,
                ),
                // A length field far past the request, and one too short.
                B::default()
                    .u8(3)
                    .u8(1)
                    .u8(0)
                    .u16(16)
                    .bytes(&[0u8; 16])
                    .u8(0xff)
                    .u32(u32::MAX)
                    .u8(0)
                    .u8(0)
                    .u8(16),
                B::default()
                    .u8(1)
                    .u8(1)
                    .u8(0)
                    .u16(5)
                    .bytes(b"file\0")
                    .u8(0xff)
                    .u32(8)
                    .u8(1)
                    .u8(100)
                    .u8(0xff),
                // A request split oddly, the reply split, on the hiprio queue.
                B::default()
                    .u8(1)
                    .u8(1)
                    .u8(1)
                    .u16(5)
                    .bytes(b"file\0")
                    .u8(0)
                    .u8(7)
                    .u8(3)
                    .u8(1),
            ]),
        ),
    ];
    // Straight to requests without INIT.
    let mut no_init = cat(&[req(1, 1, b"file\0"), req(3, 2, &[0u8; 16])]);
    no_init[0] = 1;
    seeds.push(("no_init", no_init));
    seeds
}

pub fn bundle_config() -> Vec<(&'static str, Vec<u8>)> {
    let minimal =
        br#"{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}"#;
    let full = br#"{"ociVersion":"1.2.0","process":{"terminal":true,"user":{"uid":0,"gid":0,"additionalGids":[1]},"args":["sh","-c","echo"],"env":["PATH=/bin"],"cwd":"/","capabilities":{"bounding":["CAP_KILL"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},"root":{"path":"rootfs","readonly":true},"hostname":"c","mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/data","type":"bind","source":"rootfs","options":["rbind","ro"]}],"annotations":{"io.runvm.memory_mib":"256","io.runvm.vcpus":"2"},"linux":{"resources":{"memory":{"limit":134217728},"cpu":{"quota":150000,"period":100000,"cpus":"0-1,3"}},"namespaces":[{"type":"pid"},{"type":"mount"}],"maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}}"#;
    let escape = br#"{"ociVersion":"1.0.0","process":{"args":["x"],"cwd":"rel"},"root":{"path":"../../etc"}}"#;
    let huge = br#"{"ociVersion":"1.0.0","root":{"path":"/"},"annotations":{"io.runvm.memory_mib":"18446744073709551615","io.runvm.vcpus":"300"},"linux":{"resources":{"memory":{"limit":9223372036854775807},"cpu":{"quota":9223372036854775807,"period":1,"cpus":"0-4294967295"}}}}"#;
    vec![
        ("minimal", [&[1u8][..], minimal].concat()),
        ("full", [&[1u8][..], full].concat()),
        ("escape", [&[1u8][..], escape].concat()),
        ("huge", [&[0u8][..], huge].concat()),
    ]
}

pub fn agent_frame() -> Vec<(&'static str, Vec<u8>)> {
    let frame = |json: &[u8]| [&(json.len() as u32).to_be_bytes()[..], json].concat();
    let responses: Vec<&[u8]> = vec![
        br#"{"response":"hello","version":1}"#,
        br#"{"response":"ok"}"#,
        br#"{"response":"started","pid":42}"#,
        br#"{"response":"exited","status":{"code":3}}"#,
        br#"{"response":"exited","status":{"signal":9}}"#,
        br#"{"response":"processes","processes":[{"exec_id":"init","pid":1}]}"#,
        br#"{"response":"error","message":"no \u00e9"}"#,
    ];
    let requests: Vec<&[u8]> = vec![
        br#"{"request":"hello","version":1}"#,
        br#"{"request":"start","exec_id":"init"}"#,
        br#"{"request":"signal","exec_id":"init","signal":9,"all":false}"#,
        br#"{"request":"attach_stream","exec_id":"init","stream":"stdout"}"#,
        br#"{"request":"resize_tty","exec_id":"init","rows":24,"cols":80}"#,
        br#"{"request":"create_process","exec_id":"e1","process":{"args":["sh"],"cwd":"/"}}"#,
        br#"{"request":"create_container","spec":{"ociVersion":"1.0.2","root":{"path":"rootfs"}}}"#,
        br#"{"request":"list_processes"}"#,
        br#"{"request":"shutdown","status":0}"#,
    ];
    let mut r = vec![0u8];
    for json in responses {
        r.extend(frame(json));
    }
    let mut q = vec![1u8];
    for json in requests {
        q.extend(frame(json));
    }
    let mut too_large = vec![0u8];
    too_large.extend_from_slice(&(u32::MAX).to_be_bytes());
    vec![("responses", r), ("requests", q), ("too_large", too_large)]
}

pub fn virtio_net() -> Vec<(&'static str, Vec<u8>)> {
    // Low feature bits: CSUM 0, GUEST_CSUM 1, GUEST_TSO4 7, GUEST_TSO6 8,
    // HOST_TSO4 11, MRG_RXBUF 15.
    const MRG: u32 = 1 << 15;
    const OFFLOADS: u32 = 1 | 1 << 1 | 1 << 7 | 1 << 11;
    let body = |len: usize| (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
    let hdr = |flags: u8, gso: u8| {
        let mut hdr = [0u8; 12];
        hdr[0] = flags;
        hdr[1] = gso;
        hdr
    };
    let tx = |b: B, layout: u8, hdr: [u8; 12], len: usize| {
        b.u8(layout).bytes(&hdr).u16(len as u16).bytes(&body(len))
    };
    let host = |b: B, hdr: [u8; 12], len: usize| {
        b.u8(3)
            .bytes(&hdr)
            .u8((len >> 16) as u8)
            .u16(len as u16)
            .bytes(&body(len))
    };
    let post = |b: B, n: u8, len: u16| {
        let mut b = b.u8(4).u8(n);
        for _ in 0..n & 7 {
            b = b.u16(len);
        }
        b
    };
    let mut seeds = Vec::new();
    // Mergeable buffers: a frame each way, one spanning three buffers.
    let b = B::default().u8(1).u32(MRG);
    let b = post(b, 4, 1024);
    let b = tx(b, 1, hdr(0, 0), 60);
    let b = host(b, hdr(0, 0), 2500);
    seeds.push(("mergeable", b.u8(7).0));
    // Offloads taken: a partial-checksum TSO frame each way; one the
    // driver did not take (TSO6), dropped.
    let b = B::default().u8(1).u32(MRG | OFFLOADS);
    let b = post(b, 6, 4096);
    let b = tx(b, 0, hdr(1, 1), 3000);
    let b = host(b, hdr(1, 1), 9000);
    let b = host(b, hdr(1, 4), 9000);
    seeds.push(("offloads", b.u8(7).0));
    // No buffers: frames wait, the tap is not read; buffers come later;
    // without mergeable buffers one frame is too big for its chain.
    let b = B::default().u8(0).u32(0);
    let b = host(b, hdr(0, 0), 100);
    let b = host(b, hdr(0, 0), 1600);
    let b = host(b, hdr(0, 0), 300);
    let b = post(b, 3, 1536);
    seeds.push(("no_buffers_then_kick", b.u8(7).0));
    // Malformed chains both ways, an oversized tx chain, a split header
    // in an indirect table, read-only rx buffers, a reset mid-way.
    let b = B::default().u8(1).u32(MRG);
    let b = tx(b, 2, hdr(0, 0), 64);
    let b = b
        .u8(5)
        .u8(1)
        .u16(3)
        .u8(1)
        .addr(0, 0x4_0000)
        .u32(70_000)
        .u16(0);
    let b = b.u8(5).u8(1).u16(4).u8(1).addr(0, 0x4_0000).u32(100).u16(2);
    let b = b.u8(5).u8(1).u16(5).u8(1).addr(0, 0x4_0000).u32(8).u16(0);
    let b = post(b, 0x82, 2048);
    let b = host(b, hdr(0, 0), 200);
    let b = b.u8(5).u8(0).u16(9).u8(1).addr(6, 0).u32(64).u16(2);
    let b = b.u8(6).u16(0x70).u32(0);
    let b = host(b, hdr(0, 0), 200);
    seeds.push(("malformed", b.u8(7).0));
    seeds
}
