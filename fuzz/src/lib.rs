//! What runvm's fuzz targets share: a cursor over the fuzzer's bytes, a
//! guest memory laid out like the VMM's around its region ends and the MMIO
//! gap, a guest driver that brings a device up through the real virtio-mmio
//! transport and feeds its queues, and a Landlock sandbox thread that keeps
//! the FUSE server inside a temporary directory.
//!
//! The input formats are documented on the targets; [`seed`] writes
//! well-formed inputs of each (the corpus generator uses it).

pub mod seed;

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use virtio::mmio::reg;
use virtio::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use virtio::{GuestMemory, MmioTransport, VirtioDevice};
use vm_memory::{Bytes, GuestAddress};
use vmm::arch::layout::{MMIO_GAP_END, MMIO_GAP_START};

/// Reads the fuzzer's bytes front to back; past the end everything is 0.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        head
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let b = self.bytes(N);
        out[..b.len()].copy_from_slice(b);
        out
    }

    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.array())
    }
}

/// Guest RAM of the fuzz targets, in four regions: low RAM `[0, LOW_END)`
/// with a second region right after it (a contiguous region boundary), the
/// last 64 KiB below the MMIO gap, and the first 64 KiB above it, as the
/// VMM lays out RAM larger than 3.25 GiB. Everything else is unmapped.
pub const LOW_END: u64 = 0x10_0000;
pub const LOW2_END: u64 = 0x11_0000;
pub const BELOW_GAP: u64 = MMIO_GAP_START - 0x1_0000;
pub const HIGH_START: u64 = MMIO_GAP_END;
pub const HIGH_END: u64 = MMIO_GAP_END + 0x1_0000;

/// Where the driver puts buffers of well-formed requests.
pub const BUF_BASE: u64 = 0x4_0000;

pub fn guest_memory() -> GuestMemory {
    GuestMemory::from_ranges(&[
        (GuestAddress(0), LOW_END as usize),
        (GuestAddress(LOW_END), (LOW2_END - LOW_END) as usize),
        (
            GuestAddress(BELOW_GAP),
            (MMIO_GAP_START - BELOW_GAP) as usize,
        ),
        (GuestAddress(HIGH_START), (HIGH_END - HIGH_START) as usize),
    ])
    .expect("guest memory layout")
}

/// A guest address from a kind byte and an offset: in low RAM, at its end,
/// at the end of RAM below the MMIO gap, in the gap, above it, at the end
/// of the high region, near `u64::MAX`, or any 32-bit address.
pub fn addr(kind: u8, off: u32) -> u64 {
    let off = u64::from(off);
    match kind % 8 {
        0 => off % LOW2_END,
        1 => LOW2_END - (off % 0x1000),
        2 => MMIO_GAP_START - (off % 0x1000),
        3 => MMIO_GAP_START + off,
        4 => HIGH_START + (off % 0x1_0000),
        5 => HIGH_END - (off % 0x1000),
        6 => u64::MAX - off,
        _ => off,
    }
}

/// Reads an address as `addr` encodes it (5 bytes).
pub fn read_addr(c: &mut Cursor) -> u64 {
    let kind = c.u8();
    addr(kind, c.u32())
}

/// Where one queue's rings are and how big it is.
#[derive(Debug, Clone, Copy)]
pub struct QueueLayout {
    pub size: u16,
    pub desc: u64,
    pub avail: u64,
    pub used: u64,
}

impl QueueLayout {
    /// The layout a well-behaved driver uses for queue `index`.
    pub fn standard(index: usize, size: u16) -> Self {
        let base = 0x1_0000 * (index as u64 + 1);
        Self {
            size,
            desc: base,
            avail: base + 0x4000,
            used: base + 0x8000,
        }
    }
}

/// Descriptor flags.
pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
pub const DESC_F_INDIRECT: u16 = 4;

/// The driver side: guest memory, the transport, the rings.
pub struct Driver {
    pub mem: GuestMemory,
    pub transport: MmioTransport,
    pub queues: Vec<QueueLayout>,
}

impl Driver {
    /// Puts `device` behind a transport on fresh guest memory.
    pub fn new(device: Arc<Mutex<dyn VirtioDevice>>, queues: Vec<QueueLayout>) -> Self {
        let mem = guest_memory();
        let transport = MmioTransport::new(mem.clone(), device).expect("transport");
        Self {
            mem,
            transport,
            queues,
        }
    }

    pub fn write_reg(&mut self, offset: u64, value: u32) {
        self.transport.write(offset, &value.to_le_bytes());
    }

    pub fn read_reg(&mut self, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        self.transport.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// What the Linux virtio-mmio driver does at probe, accepting every
    /// feature of the upper half (VERSION_1 and the ring features);
    /// whether the device took DRIVER_OK (the transport refuses rings
    /// outside guest memory).
    pub fn activate(&mut self) -> bool {
        self.activate_acking(!0 << 32)
    }

    /// Like [`Driver::activate`], accepting the offered features in `mask`.
    pub fn activate_acking(&mut self, mask: u64) -> bool {
        self.write_reg(reg::STATUS, ACKNOWLEDGE);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        for sel in 0..2u32 {
            self.write_reg(reg::DEVICE_FEATURES_SEL, sel);
            let offered = self.read_reg(reg::DEVICE_FEATURES);
            let half = (mask >> (32 * sel)) as u32;
            self.write_reg(reg::DRIVER_FEATURES_SEL, sel);
            self.write_reg(reg::DRIVER_FEATURES, offered & half);
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        for (index, q) in self.queues.clone().iter().enumerate() {
            self.write_reg(reg::QUEUE_SEL, index as u32);
            self.write_reg(reg::QUEUE_NUM, u32::from(q.size));
            self.write_reg(reg::QUEUE_DESC_LOW, q.desc as u32);
            self.write_reg(reg::QUEUE_DESC_HIGH, (q.desc >> 32) as u32);
            self.write_reg(reg::QUEUE_AVAIL_LOW, q.avail as u32);
            self.write_reg(reg::QUEUE_AVAIL_HIGH, (q.avail >> 32) as u32);
            self.write_reg(reg::QUEUE_USED_LOW, q.used as u32);
            self.write_reg(reg::QUEUE_USED_HIGH, (q.used >> 32) as u32);
            self.write_reg(reg::QUEUE_READY, 1);
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        self.read_reg(reg::STATUS) & DRIVER_OK != 0
    }

    /// Writes descriptor `index` (modulo the queue size) of queue `queue`.
    pub fn store_desc(&self, queue: usize, index: u16, d: (u64, u32, u16, u16)) {
        let Some(q) = self.queues.get(queue) else {
            return;
        };
        let index = u64::from(index % q.size.max(1));
        let at = q.desc.wrapping_add(16 * index);
        self.store_raw_desc(at, d);
    }

    /// Writes a descriptor at `at` (an indirect table entry); errors (outside
    /// guest memory) are the guest's problem and ignored.
    pub fn store_raw_desc(&self, at: u64, (addr, len, flags, next): (u64, u32, u16, u16)) {
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&addr.to_le_bytes());
        raw[8..12].copy_from_slice(&len.to_le_bytes());
        raw[12..14].copy_from_slice(&flags.to_le_bytes());
        raw[14..].copy_from_slice(&next.to_le_bytes());
        let _ = self.mem.write_slice(&raw, GuestAddress(at));
    }

    /// The avail ring's idx.
    pub fn avail_idx(&self, queue: usize) -> u16 {
        self.queues
            .get(queue)
            .and_then(|q| {
                self.mem
                    .read_obj::<u16>(GuestAddress(q.avail.wrapping_add(2)))
                    .ok()
            })
            .unwrap_or(0)
    }

    pub fn set_avail_idx(&self, queue: usize, idx: u16) {
        if let Some(q) = self.queues.get(queue) {
            let _ = self
                .mem
                .write_obj(idx, GuestAddress(q.avail.wrapping_add(2)));
        }
    }

    /// Puts `head` on the avail ring of `queue`.
    pub fn push_avail(&self, queue: usize, head: u16) {
        let Some(q) = self.queues.get(queue) else {
            return;
        };
        let idx = self.avail_idx(queue);
        let slot = u64::from(idx % q.size.max(1));
        let _ = self
            .mem
            .write_obj(head, GuestAddress(q.avail.wrapping_add(4 + 2 * slot)));
        self.set_avail_idx(queue, idx.wrapping_add(1));
    }

    /// Makes a chain of `(addr, len, flags)` available on `queue` from
    /// descriptor `first` on (NEXT links added); returns the head.
    pub fn add_chain(&self, queue: usize, first: u16, descs: &[(u64, u32, u16)]) -> u16 {
        let size = self.queues.get(queue).map_or(1, |q| q.size.max(1));
        let id = |i: usize| ((usize::from(first) + i) % usize::from(size)) as u16;
        for (i, &(addr, len, flags)) in descs.iter().enumerate() {
            let (flags, next) = if i + 1 < descs.len() {
                (flags | DESC_F_NEXT, id(i + 1))
            } else {
                (flags, 0)
            };
            self.store_desc(queue, id(i), (addr, len, flags, next));
        }
        self.push_avail(queue, id(0));
        id(0)
    }

    /// QueueNotify, as the guest writes it.
    pub fn kick(&mut self, queue: u32) {
        self.write_reg(reg::QUEUE_NOTIFY, queue);
    }

    /// The used ring's idx.
    pub fn used_idx(&self, queue: usize) -> u16 {
        self.queues
            .get(queue)
            .and_then(|q| {
                self.mem
                    .read_obj::<u16>(GuestAddress(q.used.wrapping_add(2)))
                    .ok()
            })
            .unwrap_or(0)
    }
}

pub type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// An event loop with `device` in it.
pub fn event_loop(device: Subscriber) -> EventManager<Subscriber> {
    let mut em = EventManager::<Subscriber>::new().expect("event manager");
    em.add_subscriber(device);
    em
}

/// Runs the event loop until nothing is ready. A device that keeps its
/// event loop busy without any new guest or host input is a bug (a guest
/// could make the VMM spin): fail.
pub fn settle(em: &mut EventManager<Subscriber>) {
    for _ in 0..1000 {
        if em.run_with_timeout(0).expect("event loop") == 0 {
            return;
        }
    }
    panic!("the event loop does not settle");
}

/// A thread that runs each input through `job` inside a Landlock domain
/// that allows file system access only beneath the given directories. The
/// rest of the process (libFuzzer, which writes the corpus and crash files)
/// is not restricted: Landlock confines the thread that asks for it.
pub struct Sandbox {
    inputs: Sender<Vec<u8>>,
    done: Receiver<()>,
}

impl Sandbox {
    /// Starts the thread; `forbidden` is a file outside `allowed` that it
    /// checks it can no longer read before it takes any input.
    pub fn start(allowed: Vec<PathBuf>, forbidden: PathBuf, job: fn(&[u8])) -> Self {
        let (inputs, input_rx) = channel::<Vec<u8>>();
        let (done_tx, done) = channel();
        let (ready_tx, ready_rx) = channel();
        std::thread::Builder::new()
            .name("fuzz-sandbox".into())
            .spawn(move || {
                let confined = confine(&allowed).and_then(|()| match std::fs::read(&forbidden) {
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(()),
                    other => Err(format!(
                        "the sandbox can still read {}: {other:?}",
                        forbidden.display()
                    )),
                });
                ready_tx.send(confined).expect("sandbox start");
                for input in input_rx {
                    job(&input);
                    if done_tx.send(()).is_err() {
                        return;
                    }
                }
            })
            .expect("sandbox thread");
        if let Err(e) = ready_rx.recv().expect("sandbox start") {
            panic!("{e}");
        }
        Self { inputs, done }
    }

    /// Runs `input` on the sandbox thread and waits for it. A panic there
    /// aborts the process (libFuzzer's panic hook), which is the crash.
    pub fn run(&self, input: &[u8]) {
        self.inputs.send(input.to_vec()).expect("sandbox alive");
        self.done.recv().expect("sandbox alive");
    }
}

/// Restricts the calling thread to `allowed` (and below) for every file
/// system access Landlock knows; refuses to go on without Landlock.
fn confine(allowed: &[PathBuf]) -> Result<(), String> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr,
        RulesetCreatedAttr, RulesetStatus, ABI,
    };
    let abi = ABI::V5;
    // PassthroughFs reads the mount table when it starts (it serves with
    // O_PATH fds, which Landlock does not check, and reopens them through
    // /proc/self/fd, which Landlock checks against the file reopened).
    let mountinfo = PathFd::new("/proc/self/mountinfo").map_err(|e| format!("landlock: {e}"))?;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(allowed, AccessFs::from_all(abi))))
        .and_then(|r| r.add_rule(PathBeneath::new(mountinfo, AccessFs::ReadFile)))
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("landlock: {e}"))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(
            "this kernel has no Landlock: the FUSE targets refuse to run \
                    a file server that is not confined to its temporary directory"
                .into(),
        );
    }
    Ok(())
}

/// A temporary directory for one fuzz process, removed when it ends
/// normally (a crash leaves it for inspection).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let base = std::env::temp_dir().join(format!("runvm-fuzz-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).expect("temp dir");
        Self(base.canonicalize().expect("temp dir"))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Empties `dir` and fills it with what the FUSE targets look at: a file,
/// a directory with a file, a relative symlink, an absolute symlink and
/// one that climbs out, a FIFO.
pub fn seed_share(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let _ = if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    let _ = std::fs::write(dir.join("file"), b"hello from the share\n");
    let _ = std::fs::create_dir(dir.join("dir"));
    let _ = std::fs::write(dir.join("dir/nested"), b"nested\n");
    let _ = std::os::unix::fs::symlink("file", dir.join("link"));
    let _ = std::os::unix::fs::symlink("/etc/passwd", dir.join("abs"));
    let _ = std::os::unix::fs::symlink("../canary", dir.join("up"));
    let fifo = std::ffi::CString::new(dir.join("fifo").into_os_string().into_encoded_bytes())
        .expect("no NUL in a temp path");
    // SAFETY: a valid NUL-terminated path; the result is not needed.
    unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };
}

/// The temporary directories of a fuzz process: `share/` (the virtio-fs
/// share, re-seeded for every input), `vsock/` (the vsock device's host
/// sockets, with a listener for guest connections to host port
/// [`HOST_PORT`]) and, beside them, a `canary` file that no target may
/// reach. The sandbox thread may touch only `share/` and `vsock/`.
pub struct Dirs {
    pub root: TempDir,
    pub share: PathBuf,
    pub vsock: PathBuf,
    pub listener: std::os::unix::net::UnixListener,
}

/// The host port guest connections find a listener on.
pub const HOST_PORT: u32 = 52;
/// The guest CID of the vsock targets.
pub const GUEST_CID: u64 = 3;

pub fn dirs() -> &'static Dirs {
    static DIRS: std::sync::OnceLock<Dirs> = std::sync::OnceLock::new();
    DIRS.get_or_init(|| {
        let root = TempDir::new("dev");
        let share = root.path().join("share");
        let vsock = root.path().join("vsock");
        std::fs::create_dir(&share).expect("share dir");
        std::fs::create_dir(&vsock).expect("vsock dir");
        std::fs::write(root.path().join("canary"), b"outside the share").expect("canary");
        let listener =
            std::os::unix::net::UnixListener::bind(vsock.join(format!("v.sock_{HOST_PORT}")))
                .expect("host listener");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        Dirs {
            root,
            share,
            vsock,
            listener,
        }
    })
}

/// The sandbox that runs `job`, confined to [`dirs`]' share and vsock
/// directories; started on first use.
pub fn run_sandboxed(job: fn(&[u8]), input: &[u8]) {
    static SANDBOX: std::sync::OnceLock<Mutex<Sandbox>> = std::sync::OnceLock::new();
    let sandbox = SANDBOX.get_or_init(|| {
        let d = dirs();
        let mut allowed = vec![d.share.clone(), d.vsock.clone()];
        allowed.extend(artifact_dir());
        Mutex::new(Sandbox::start(allowed, d.root.path().join("canary"), job))
    });
    sandbox
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .run(input);
}

/// Where libFuzzer writes a crashing input (`-artifact_prefix=DIR/` or
/// `-exact_artifact_path=FILE`): its crash handler runs on the thread that
/// crashed, which for these targets is the sandbox thread, so that one
/// directory must stay writable there. Without either flag libFuzzer
/// writes to the working directory, which the sandbox cannot: pass one.
fn artifact_dir() -> Option<PathBuf> {
    std::env::args().find_map(|arg| {
        if let Some(prefix) = arg.strip_prefix("-artifact_prefix=") {
            let path = Path::new(prefix);
            let dir = if prefix.ends_with('/') {
                path
            } else {
                path.parent()?
            };
            dir.canonicalize().ok()
        } else {
            let file = arg.strip_prefix("-exact_artifact_path=")?;
            Path::new(file).parent()?.canonicalize().ok()
        }
    })
}

/// A device as the VMM wires it: behind a transport, in an event loop.
pub struct Rig {
    pub driver: Driver,
    pub em: EventManager<Subscriber>,
}

impl Rig {
    /// A fresh vsock device (host sockets in [`dirs`]' vsock directory).
    pub fn vsock(queues: Vec<QueueLayout>) -> Self {
        let d = dirs();
        // Host connections of the previous input, never accepted: gone.
        while d.listener.accept().is_ok() {}
        let path = d.vsock.join("v.sock");
        let _ = std::fs::remove_file(&path);
        let vsock = Arc::new(Mutex::new(
            virtio::vsock::Vsock::new(GUEST_CID, path).expect("vsock device"),
        ));
        Self {
            driver: Driver::new(vsock.clone(), queues),
            em: event_loop(vsock),
        }
    }

    /// A fresh virtio-fs device serving [`dirs`]' share, re-seeded.
    pub fn fs(queues: Vec<QueueLayout>) -> Self {
        let d = dirs();
        seed_share(&d.share);
        let fs = virtio::fs::Fs::new("fuzz", d.share.clone(), virtio::fs::FsOptions::default())
            .expect("fs device");
        let fs = Arc::new(Mutex::new(fs));
        Self {
            driver: Driver::new(fs.clone(), queues),
            em: event_loop(fs),
        }
    }

    /// A fresh virtio-rng device.
    pub fn rng(queues: Vec<QueueLayout>) -> Self {
        let rng = Arc::new(Mutex::new(virtio::rng::Rng::new().expect("rng device")));
        Self {
            driver: Driver::new(rng.clone(), queues),
            em: event_loop(rng),
        }
    }

    /// A fresh virtio-net device whose backend is a [`DatagramTap`] that
    /// takes offloads or not; returns the host's end of it too.
    pub fn net(queues: Vec<QueueLayout>, takes_offloads: bool) -> (Self, UnixDatagram) {
        let (tap, host) = DatagramTap::pair(takes_offloads);
        let net = virtio::net::Net::new(tap, [2, 0, 0, 0, 0, 1], 1500).expect("net device");
        let net = Arc::new(Mutex::new(net));
        let rig = Self {
            driver: Driver::new(net.clone(), queues),
            em: event_loop(net),
        };
        (rig, host)
    }

    pub fn settle(&mut self) {
        settle(&mut self.em);
    }

    pub fn kick(&mut self, queue: u32) {
        self.driver.kick(queue);
        self.settle();
    }
}

/// A virtio-net backend that moves frames like a tap (one per datagram,
/// nonblocking) over a Unix datagram socket pair, whose other end plays
/// the host's network.
pub struct DatagramTap {
    sock: UnixDatagram,
    takes_offloads: bool,
}

impl DatagramTap {
    pub fn pair(takes_offloads: bool) -> (Self, UnixDatagram) {
        let (sock, host) = UnixDatagram::pair().expect("socket pair");
        sock.set_nonblocking(true).expect("nonblocking");
        host.set_nonblocking(true).expect("nonblocking");
        (
            Self {
                sock,
                takes_offloads,
            },
            host,
        )
    }
}

impl AsRawFd for DatagramTap {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl virtio::net::Backend for DatagramTap {
    fn read_frame(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.sock.recv(buf)
    }

    fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<usize> {
        self.sock.send(frame)
    }

    fn set_offload(&mut self, flags: u32) -> std::io::Result<()> {
        if flags != 0 && !self.takes_offloads {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        Ok(())
    }
}
