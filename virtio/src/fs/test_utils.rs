//! A mock guest for the virtio-fs tests: guest memory, a driver that brings
//! the device up through the virtio-mmio registers and sends FUSE requests
//! on its queues, and the VMM's event loop.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use fuse_backend_rs::abi::fuse_abi::{
    AttrOut, CreateIn, EntryOut, GetattrIn, InHeader, InitIn, InitOut, MkdirIn, MknodIn, Opcode,
    OpenIn, OpenOut, OutHeader, ReadIn, SetattrIn, WriteIn, WriteOut, KERNEL_MINOR_VERSION,
    KERNEL_VERSION,
};
use tempfile::TempDir;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::{AvailRing, DescriptorTable, UsedRing};
use vm_memory::{Address, ByteValued, Bytes, GuestAddress};

use super::{Fs, FsOptions, HIPRIO_QUEUE, NUM_QUEUES, REQUEST_QUEUE, TAG_LEN};
use crate::mmio::reg;
use crate::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use crate::{GuestMemory, MmioTransport, VirtioDevice};

/// The tag the test device is created with.
pub(crate) const TEST_TAG: &str = "runvm";
/// Guest RAM size.
pub(crate) const MEM_SIZE: u64 = 0x100_0000;
/// Size the mock driver gives each queue.
pub(crate) const TEST_QUEUE_SIZE: u16 = 16;
/// Where each queue's rings are.
const QUEUE_BASES: [u64; NUM_QUEUES] = [0x1_0000, 0x2_0000];
const AVAIL_OFFSET: u64 = 0x1000;
const USED_OFFSET: u64 = 0x2000;
/// Each descriptor index of each queue owns a buffer of this size from here.
const BUF_BASE: u64 = 0x10_0000;
const BUF_SLOT: u64 = 0x2_0000;
/// Size of the reply buffer of each request.
pub(crate) const REPLY_LEN: u32 = 0x1_0000;
/// The content of the file next to the share that no request may reach.
pub(crate) const CANARY: &[u8] = b"outside the share";

/// Descriptor flags.
pub(crate) const DESC_F_NEXT: u16 = 1;
pub(crate) const DESC_F_WRITE: u16 = 2;

/// FUSE_SETATTR `valid` bit for the mode.
pub(crate) const FATTR_MODE: u32 = 1;

/// The driver side of one split queue.
pub(crate) struct GuestQueue {
    desc_table: DescriptorTable<'static, GuestMemory>,
    avail: AvailRing<'static, GuestMemory>,
    used: UsedRing<'static, GuestMemory>,
    index: u64,
    next_desc: u16,
    used_seen: u16,
}

impl GuestQueue {
    fn new(mem: &'static GuestMemory, index: usize) -> Self {
        let base = QUEUE_BASES[index];
        Self {
            desc_table: DescriptorTable::new(mem, GuestAddress(base), TEST_QUEUE_SIZE),
            avail: AvailRing::new(mem, GuestAddress(base + AVAIL_OFFSET), TEST_QUEUE_SIZE),
            used: UsedRing::new(mem, GuestAddress(base + USED_OFFSET), TEST_QUEUE_SIZE),
            index: index as u64,
            next_desc: 0,
            used_seen: 0,
        }
    }

    /// Where the descriptor table, avail ring and used ring are.
    fn ring_addrs(&self) -> (u64, u64, u64) {
        let base = QUEUE_BASES[self.index as usize];
        (base, base + AVAIL_OFFSET, base + USED_OFFSET)
    }

    /// The buffer owned by descriptor `desc`.
    pub(crate) fn slot_addr(&self, desc: u16) -> u64 {
        BUF_BASE + (self.index * u64::from(TEST_QUEUE_SIZE) + u64::from(desc)) * BUF_SLOT
    }

    /// The descriptor index the `n`th next descriptor will get.
    pub(crate) fn peek_desc(&self, n: u16) -> u16 {
        (self.next_desc + n) % TEST_QUEUE_SIZE
    }

    /// Makes a chain of `(addr, len, flags)` available; NEXT links are added.
    pub(crate) fn add_chain(&mut self, descs: &[(u64, u32, u16)]) -> u16 {
        let ids: Vec<u16> = (0..descs.len() as u16).map(|i| self.peek_desc(i)).collect();
        self.next_desc = self.peek_desc(descs.len() as u16);
        for (i, &(addr, len, flags)) in descs.iter().enumerate() {
            let (flags, next) = match ids.get(i + 1) {
                Some(&next) => (flags | DESC_F_NEXT, next),
                None => (flags, 0),
            };
            self.store_desc(ids[i], addr, len, flags, next);
        }
        self.make_available(ids[0]);
        ids[0]
    }

    /// Writes one raw descriptor.
    pub(crate) fn store_desc(&self, id: u16, addr: u64, len: u32, flags: u16, next: u16) {
        self.desc_table
            .store(
                id,
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next)),
            )
            .unwrap();
    }

    /// Puts descriptor `head` on the avail ring.
    pub(crate) fn make_available(&self, head: u16) {
        let idx = self.avail.idx().load();
        self.avail
            .ring()
            .ref_at(usize::from(idx % TEST_QUEUE_SIZE))
            .unwrap()
            .store(head);
        self.avail.idx().store(idx.wrapping_add(1));
    }

    /// The next used element, if any: (descriptor id, used length).
    pub(crate) fn next_used(&mut self) -> Option<(u16, u32)> {
        if self.used.idx().load() == self.used_seen {
            return None;
        }
        let elem = self
            .used
            .ring()
            .ref_at(usize::from(self.used_seen % TEST_QUEUE_SIZE))
            .unwrap()
            .load();
        self.used_seen = self.used_seen.wrapping_add(1);
        let id = u16::try_from(elem.id()).expect("a used id within the queue");
        Some((id, elem.len()))
    }
}

/// How the VMM hands the device to its event loop.
type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// The reply to one request.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The used length the device reported.
    pub used_len: u32,
    /// `-errno`, or 0.
    pub error: i32,
    /// Where the reply's body starts in guest memory.
    pub body_addr: GuestAddress,
}

/// A virtio-fs device behind a transport, a mock guest driver, and an
/// event loop. The share is `dir/share`; `dir/canary` is next to it.
pub(crate) struct TestContext {
    pub(crate) guest_mem: &'static GuestMemory,
    pub(crate) fs: Arc<Mutex<Fs>>,
    pub(crate) transport: MmioTransport,
    event_manager: EventManager<Subscriber>,
    pub(crate) queues: Vec<GuestQueue>,
    pub(crate) share: PathBuf,
    pub(crate) canary: PathBuf,
    /// The uid and gid requests are made as: the test's own, so that the
    /// server's credential switch works without root.
    uid: u32,
    gid: u32,
    next_unique: u64,
    _dir: TempDir,
}

impl TestContext {
    /// Sets everything up the way the VMM does; the device is not active.
    pub(crate) fn new(options: FsOptions) -> Self {
        let mem = GuestMemory::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).unwrap();
        // The mock queues borrow the memory for the whole test.
        let guest_mem: &'static GuestMemory = Box::leak(Box::new(mem.clone()));
        let dir = TempDir::new().unwrap();
        let share = dir.path().join("share");
        std::fs::create_dir(&share).unwrap();
        let canary = dir.path().join("canary");
        std::fs::write(&canary, CANARY).unwrap();
        let owner = std::fs::metadata(dir.path()).unwrap();

        let fs = Arc::new(Mutex::new(
            Fs::new(TEST_TAG, share.clone(), options).unwrap(),
        ));
        let device: Arc<Mutex<dyn VirtioDevice>> = fs.clone();
        let subscriber: Subscriber = fs.clone();
        let transport = MmioTransport::new(mem, device).unwrap();
        let mut event_manager = EventManager::new().unwrap();
        event_manager.add_subscriber(subscriber);
        let queues = (0..NUM_QUEUES)
            .map(|i| GuestQueue::new(guest_mem, i))
            .collect();
        Self {
            guest_mem,
            fs,
            transport,
            event_manager,
            queues,
            share,
            canary,
            uid: owner.uid(),
            gid: owner.gid(),
            next_unique: 1,
            _dir: dir,
        }
    }

    /// A context whose device the mock driver brought up and sent FUSE INIT.
    pub(crate) fn mounted(options: FsOptions) -> Self {
        let mut ctx = Self::new(options);
        ctx.activate();
        ctx.init();
        ctx
    }

    fn write_reg(&mut self, offset: u64, value: u32) {
        self.transport.write(offset, &value.to_le_bytes());
    }

    pub(crate) fn read_reg(&mut self, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        self.transport.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// Does what the Linux virtio-mmio and virtio-fs drivers do at probe.
    pub(crate) fn activate(&mut self) {
        assert_eq!(self.read_reg(reg::DEVICE_ID), crate::device_type::FS);
        self.write_reg(reg::STATUS, ACKNOWLEDGE);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER);
        self.write_reg(reg::DEVICE_FEATURES_SEL, 1);
        let high = self.read_reg(reg::DEVICE_FEATURES);
        self.write_reg(reg::DRIVER_FEATURES_SEL, 1);
        self.write_reg(reg::DRIVER_FEATURES, high);
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        let mut tag = [0u8; TAG_LEN];
        self.transport.read(reg::CONFIG_SPACE, &mut tag);
        assert_eq!(&tag[..TEST_TAG.len()], TEST_TAG.as_bytes());
        for index in 0..NUM_QUEUES {
            let (desc, avail, used) = self.queues[index].ring_addrs();
            self.write_reg(reg::QUEUE_SEL, index as u32);
            assert!(self.read_reg(reg::QUEUE_NUM_MAX) >= u32::from(TEST_QUEUE_SIZE));
            self.write_reg(reg::QUEUE_NUM, u32::from(TEST_QUEUE_SIZE));
            self.write_reg(reg::QUEUE_DESC_LOW, desc as u32);
            self.write_reg(reg::QUEUE_DESC_HIGH, (desc >> 32) as u32);
            self.write_reg(reg::QUEUE_AVAIL_LOW, avail as u32);
            self.write_reg(reg::QUEUE_AVAIL_HIGH, (avail >> 32) as u32);
            self.write_reg(reg::QUEUE_USED_LOW, used as u32);
            self.write_reg(reg::QUEUE_USED_HIGH, (used >> 32) as u32);
            self.write_reg(reg::QUEUE_READY, 1);
        }
        self.write_reg(reg::STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        assert_eq!(
            self.read_reg(reg::STATUS),
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
        );
        self.run();
    }

    /// Resets the device the way a driver does (Status = 0).
    pub(crate) fn reset(&mut self) {
        self.write_reg(reg::STATUS, 0);
        self.run();
        self.queues = (0..NUM_QUEUES)
            .map(|i| GuestQueue::new(self.guest_mem, i))
            .collect();
    }

    /// Runs the event loop until nothing is ready; fails the test if it
    /// never settles (a busy loop).
    pub(crate) fn run(&mut self) {
        for _ in 0..1000 {
            if self.event_manager.run_with_timeout(0).unwrap() == 0 {
                return;
            }
        }
        panic!("the event loop does not settle");
    }

    /// Notifies queue `index` the way the guest does (QueueNotify).
    pub(crate) fn notify(&mut self, index: usize) {
        self.write_reg(reg::QUEUE_NOTIFY, index as u32);
        self.run();
    }

    /// Makes `descs` available on queue `index`, notifies it, and returns
    /// what the device put in the used ring.
    pub(crate) fn send_chain(
        &mut self,
        index: usize,
        descs: &[(u64, u32, u16)],
    ) -> Option<(u16, u32)> {
        self.queues[index].add_chain(descs);
        self.notify(index);
        self.queues[index].next_used()
    }

    /// Makes `bytes` available as the readable part of a request on queue
    /// `index`, with a `REPLY_LEN` writable buffer, without notifying.
    pub(crate) fn stage_raw(&mut self, index: usize, bytes: &[u8]) {
        let q = &mut self.queues[index];
        let request_addr = q.slot_addr(q.peek_desc(0));
        let reply_addr = q.slot_addr(q.peek_desc(1));
        self.guest_mem
            .write_slice(bytes, GuestAddress(request_addr))
            .unwrap();
        q.add_chain(&[
            (request_addr, bytes.len() as u32, 0),
            (reply_addr, REPLY_LEN, DESC_F_WRITE),
        ]);
    }

    /// Sends `bytes` as the readable part of a request on queue `index`,
    /// with a `REPLY_LEN` writable buffer, and returns the used element.
    pub(crate) fn send_raw(&mut self, index: usize, bytes: &[u8]) -> (u16, u32) {
        self.stage_raw(index, bytes);
        self.notify(index);
        self.queues[index]
            .next_used()
            .expect("the device used the request")
    }

    /// A FUSE request header for `opcode` on `nodeid` with `body_len` bytes
    /// after it.
    pub(crate) fn header(&mut self, opcode: Opcode, nodeid: u64, body_len: usize) -> InHeader {
        let unique = self.next_unique;
        self.next_unique += 1;
        InHeader {
            len: (std::mem::size_of::<InHeader>() + body_len) as u32,
            opcode: opcode as u32,
            unique,
            nodeid,
            uid: self.uid,
            gid: self.gid,
            pid: 1,
            padding: 0,
        }
    }

    /// Sends a FUSE request on the request queue and reads its reply header.
    pub(crate) fn request(&mut self, opcode: Opcode, nodeid: u64, body: &[u8]) -> Reply {
        let header = self.header(opcode, nodeid, body.len());
        let mut bytes = header.as_slice().to_vec();
        bytes.extend_from_slice(body);
        let (id, used_len) = self.send_raw(REQUEST_QUEUE, &bytes);
        let reply_addr = GuestAddress(self.queues[REQUEST_QUEUE].slot_addr(id + 1));
        let out: OutHeader = self.guest_mem.read_obj(reply_addr).unwrap();
        assert_eq!(out.unique, header.unique, "reply to another request");
        assert_eq!(out.len, used_len, "reply length and used length differ");
        Reply {
            used_len,
            error: out.error,
            body_addr: reply_addr.unchecked_add(std::mem::size_of::<OutHeader>() as u64),
        }
    }

    /// The reply's body as a `T`, or the errno.
    pub(crate) fn reply_obj<T: ByteValued>(&self, reply: &Reply) -> Result<T, i32> {
        if reply.error != 0 {
            return Err(-reply.error);
        }
        Ok(self.guest_mem.read_obj(reply.body_addr).unwrap())
    }

    /// The reply's body as bytes, or the errno.
    pub(crate) fn reply_bytes(&self, reply: &Reply) -> Result<Vec<u8>, i32> {
        if reply.error != 0 {
            return Err(-reply.error);
        }
        let len = reply.used_len as usize - std::mem::size_of::<OutHeader>();
        let mut bytes = vec![0u8; len];
        self.guest_mem
            .read_slice(&mut bytes, reply.body_addr)
            .unwrap();
        Ok(bytes)
    }

    /// The errno of a request that carries no reply body, or 0.
    pub(crate) fn status_of(&mut self, opcode: Opcode, nodeid: u64, body: &[u8]) -> i32 {
        -self.request(opcode, nodeid, body).error
    }

    /// FUSE INIT, as the Linux driver sends it, offering no options.
    pub(crate) fn init(&mut self) {
        self.init_offering(0);
    }

    /// FUSE INIT offering the option bits `flags`; the server's answer.
    pub(crate) fn init_offering(&mut self, flags: u32) -> InitOut {
        let init = InitIn {
            major: KERNEL_VERSION,
            minor: KERNEL_MINOR_VERSION,
            max_readahead: 0x2_0000,
            flags,
        };
        let reply = self.request(Opcode::Init, 0, init.as_slice());
        self.reply_obj(&reply).expect("INIT failed")
    }

    pub(crate) fn lookup(&mut self, parent: u64, name: &[u8]) -> Result<EntryOut, i32> {
        let reply = self.request(Opcode::Lookup, parent, &cstr(name));
        self.reply_obj(&reply)
    }

    pub(crate) fn getattr(&mut self, nodeid: u64) -> Result<AttrOut, i32> {
        let reply = self.request(Opcode::Getattr, nodeid, GetattrIn::default().as_slice());
        self.reply_obj(&reply)
    }

    /// OPEN with `flags`; returns the file handle.
    pub(crate) fn open(&mut self, nodeid: u64, flags: i32) -> Result<u64, i32> {
        let open = OpenIn {
            flags: flags as u32,
            fuse_flags: 0,
        };
        let reply = self.request(Opcode::Open, nodeid, open.as_slice());
        self.reply_obj::<OpenOut>(&reply).map(|out| out.fh)
    }

    pub(crate) fn read(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<Vec<u8>, i32> {
        let read = ReadIn {
            fh,
            offset,
            size,
            ..ReadIn::default()
        };
        let reply = self.request(Opcode::Read, nodeid, read.as_slice());
        self.reply_bytes(&reply)
    }

    /// CREATE `name` in `parent`; returns the entry and the file handle.
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<(EntryOut, u64), i32> {
        let create = CreateIn {
            flags: flags as u32,
            mode,
            umask: 0,
            fuse_flags: 0,
        };
        let mut body = create.as_slice().to_vec();
        body.extend_from_slice(&cstr(name));
        let reply = self.request(Opcode::Create, parent, &body);
        let entry: EntryOut = self.reply_obj(&reply)?;
        let open: OpenOut = self
            .guest_mem
            .read_obj(
                reply
                    .body_addr
                    .unchecked_add(std::mem::size_of::<EntryOut>() as u64),
            )
            .unwrap();
        Ok((entry, open.fh))
    }

    /// WRITE `data` at `offset`; returns the count written.
    pub(crate) fn write(
        &mut self,
        nodeid: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
    ) -> Result<u32, i32> {
        let write = WriteIn {
            fh,
            offset,
            size: data.len() as u32,
            ..WriteIn::default()
        };
        let mut body = write.as_slice().to_vec();
        body.extend_from_slice(data);
        let reply = self.request(Opcode::Write, nodeid, &body);
        self.reply_obj::<WriteOut>(&reply).map(|out| out.size)
    }

    pub(crate) fn mknod(
        &mut self,
        parent: u64,
        name: &[u8],
        mode: u32,
        rdev: u32,
    ) -> Result<EntryOut, i32> {
        let mknod = MknodIn {
            mode,
            rdev,
            umask: 0,
            padding: 0,
        };
        let mut body = mknod.as_slice().to_vec();
        body.extend_from_slice(&cstr(name));
        let reply = self.request(Opcode::Mknod, parent, &body);
        self.reply_obj(&reply)
    }

    pub(crate) fn mkdir(&mut self, parent: u64, name: &[u8], mode: u32) -> Result<EntryOut, i32> {
        let mkdir = MkdirIn { mode, umask: 0 };
        let mut body = mkdir.as_slice().to_vec();
        body.extend_from_slice(&cstr(name));
        let reply = self.request(Opcode::Mkdir, parent, &body);
        self.reply_obj(&reply)
    }

    pub(crate) fn setattr_mode(&mut self, nodeid: u64, mode: u32) -> Result<AttrOut, i32> {
        let setattr = SetattrIn {
            valid: FATTR_MODE,
            mode,
            ..SetattrIn::default()
        };
        let reply = self.request(Opcode::Setattr, nodeid, setattr.as_slice());
        self.reply_obj(&reply)
    }

    /// SYMLINK `name` -> `target` in `parent`.
    pub(crate) fn symlink(
        &mut self,
        parent: u64,
        name: &[u8],
        target: &[u8],
    ) -> Result<EntryOut, i32> {
        let mut body = cstr(name);
        body.extend_from_slice(&cstr(target));
        let reply = self.request(Opcode::Symlink, parent, &body);
        self.reply_obj(&reply)
    }

    pub(crate) fn readlink(&mut self, nodeid: u64) -> Result<Vec<u8>, i32> {
        let reply = self.request(Opcode::Readlink, nodeid, &[]);
        self.reply_bytes(&reply)
    }

    /// The canary next to the share is as it was made.
    pub(crate) fn assert_canary_untouched(&self) {
        assert_eq!(std::fs::read(&self.canary).unwrap(), CANARY);
    }

    /// Sends a FORGET on the hiprio queue (no reply).
    pub(crate) fn forget(&mut self, nodeid: u64, nlookup: u64) {
        let header = self.header(Opcode::Forget, nodeid, 8);
        let mut bytes = header.as_slice().to_vec();
        bytes.extend_from_slice(&nlookup.to_le_bytes());
        let (_, used_len) = self.send_raw(HIPRIO_QUEUE, &bytes);
        assert_eq!(used_len, 0, "FORGET has no reply");
    }
}

/// `name` with a terminating NUL, as FUSE sends names.
pub(crate) fn cstr(name: &[u8]) -> Vec<u8> {
    CString::new(name).unwrap().into_bytes_with_nul()
}
