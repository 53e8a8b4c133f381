//! The virtio-fs device: config space, activation, and handing each request
//! on the queues to the FUSE server.

use std::path::PathBuf;
use std::sync::Arc;

use fuse_backend_rs::abi::fuse_abi::{InHeader, Opcode, OutHeader};
use fuse_backend_rs::api::filesystem::FileSystem;
use fuse_backend_rs::api::server::Server;
use fuse_backend_rs::transport::{Reader, VirtioFsWriter, Writer};
use tracing::warn;
use virtio_queue::{DescriptorChain, QueueT};

use super::fd_limit::host_fd_budget;
use super::secure::SecureFs;
use super::{
    FsError, FsOptions, CONFIG_SPACE_SIZE, MAX_HOST_FDS, MAX_NAME_REQUEST_LEN,
    MAX_SETXATTR_REQUEST_LEN, MAX_TWO_NAME_REQUEST_LEN, NUM_QUEUES, NUM_REQUEST_QUEUES, QUEUE_SIZE,
    TAG_LEN,
};
use crate::activation::{avail_idx_is_sane, Activation, ActiveState};
use crate::features::VIRTIO_F_VERSION_1;
use crate::{device_type, GuestMemory, VirtioDevice, VirtioError};

/// Queue problems caused by the guest, logged once per device.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
enum QueueWarning {
    DroppedRequest = 1,
    UsedRing = 2,
    Interrupt = 4,
    AvailIndex = 8,
    BadHeadIndex = 16,
}

/// A virtio-fs device serving `shared_dir` to the guest under `tag`.
///
/// Wired like [`crate::vsock::Vsock`]: one `Arc<Mutex<Fs>>` handed to the
/// VMM's `EventManager` (the queues are served there) and to a
/// [`crate::MmioTransport`]:
///
/// ```no_run
/// use std::sync::{Arc, Mutex};
///
/// use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
/// use virtio::fs::{Fs, FsOptions};
/// use virtio::mmio::MmioTransport;
/// use virtio::GuestMemory;
///
/// # fn wire(mem: GuestMemory) -> Result<(), Box<dyn std::error::Error>> {
/// let fs = Arc::new(Mutex::new(Fs::new(
///     "runvm",
///     "/run/runvm/c1/share".into(),
///     FsOptions::default(),
/// )?));
/// let mut event_manager = EventManager::<Arc<Mutex<dyn MutEventSubscriber + Send>>>::new()?;
/// event_manager.add_subscriber(fs.clone());
/// let transport = MmioTransport::new(mem, fs)?;
/// # let _ = transport;
/// # Ok(())
/// # }
/// ```
///
/// Each request is served to completion on the event-loop thread, so a slow
/// host file system stalls the loop (and vsock) meanwhile. The FUSE server
/// switches that thread's effective uid/gid to the requester's for the
/// creating requests, and on FUSE INIT gives it a umask (and cwd) of its
/// own (`unshare(CLONE_FS)`), set to 0: files that thread creates
/// otherwise get the modes asked for, unmasked.
pub struct Fs {
    config: [u8; CONFIG_SPACE_SIZE],
    queue_max_sizes: [u16; NUM_QUEUES],
    shared_dir: PathBuf,
    server: Server<Arc<SecureFs>>,
    /// The file system behind `server`, to drop its state on reset.
    fs: Arc<SecureFs>,
    pub(crate) activation: Activation,
    /// The driver reset the device: the event loop drops the FUSE session
    /// before it serves anything else.
    session_reset_pending: bool,
    warned: u32,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("shared_dir", &self.shared_dir)
            .field("active", &self.activation.active.is_some())
            .finish_non_exhaustive()
    }
}

/// The config space: the tag, NUL padded, then `num_request_queues`.
fn config_space(tag: &str) -> Result<[u8; CONFIG_SPACE_SIZE], FsError> {
    let bytes = tag.as_bytes();
    if bytes.is_empty() || bytes.len() > TAG_LEN || bytes.contains(&0) {
        return Err(FsError::InvalidTag(tag.to_owned()));
    }
    let mut config = [0u8; CONFIG_SPACE_SIZE];
    config[..bytes.len()].copy_from_slice(bytes);
    config[TAG_LEN..].copy_from_slice(&NUM_REQUEST_QUEUES.to_le_bytes());
    Ok(config)
}

/// The longest request with `opcode` we pass to the FUSE server, for the
/// requests whose body is names; `None` for the others (the server bounds
/// every request to about 1 MiB). The server logs a name that has no NUL
/// whole, so this also bounds what a guest can put in the log.
fn name_request_len_limit(opcode: u32) -> Option<u32> {
    const ONE_NAME: [Opcode; 9] = [
        Opcode::Lookup,
        Opcode::Mknod,
        Opcode::Mkdir,
        Opcode::Unlink,
        Opcode::Rmdir,
        Opcode::Link,
        Opcode::Create,
        Opcode::Getxattr,
        Opcode::Removexattr,
    ];
    const TWO_NAMES: [Opcode; 3] = [Opcode::Rename, Opcode::Rename2, Opcode::Symlink];
    if ONE_NAME.iter().any(|&op| op as u32 == opcode) {
        Some(MAX_NAME_REQUEST_LEN)
    } else if TWO_NAMES.iter().any(|&op| op as u32 == opcode) {
        Some(MAX_TWO_NAME_REQUEST_LEN)
    } else if opcode == Opcode::Setxattr as u32 {
        Some(MAX_SETXATTR_REQUEST_LEN)
    } else {
        None
    }
}

/// Serves the request in `chain`; returns how many bytes of reply it wrote,
/// or `None` if the chain is not a request we can reply to.
fn serve_request(
    server: &Server<Arc<SecureFs>>,
    mem: &GuestMemory,
    chain: DescriptorChain<&GuestMemory>,
) -> Option<usize> {
    let reader = Reader::from_descriptor_chain(mem, chain.clone()).ok()?;
    let mut writer = VirtioFsWriter::new(mem, chain).ok()?;
    let header: InHeader = reader.clone().read_obj().ok()?;
    if name_request_len_limit(header.opcode).is_some_and(|limit| header.len > limit) {
        let reply = OutHeader {
            len: u32::try_from(std::mem::size_of::<OutHeader>()).ok()?,
            error: -libc::ENAMETOOLONG,
            unique: header.unique,
        };
        writer.write_obj(reply).ok()?;
        return Some(writer.bytes_written());
    }
    server
        .handle_message(reader, Writer::VirtioFs(writer), None, None)
        .ok()
}

impl Fs {
    /// A device serving the directory `shared_dir` under `tag` (what the
    /// guest passes to `mount -t virtiofs`; 1 to 36 bytes).
    ///
    /// The directory is resolved (symlinks included) and opened now, so the
    /// VMM may then leave the mount namespace it is reachable in.
    pub fn new(tag: &str, shared_dir: PathBuf, options: FsOptions) -> Result<Self, FsError> {
        let config = config_space(tag)?;
        let root = shared_dir
            .canonicalize()
            .map_err(|source| FsError::SharedDir {
                path: shared_dir.clone(),
                source,
            })?;
        if !root.is_dir() {
            return Err(FsError::NotADirectory(shared_dir));
        }
        let root_dir = root
            .to_str()
            .ok_or_else(|| FsError::NonUtf8Path(root.clone()))?
            .to_owned();
        let max_host_fds = host_fd_budget(MAX_HOST_FDS);
        let fs = SecureFs::open(root_dir, options, max_host_fds).map_err(FsError::Passthrough)?;
        let fs = Arc::new(fs);
        Ok(Self {
            config,
            queue_max_sizes: [QUEUE_SIZE; NUM_QUEUES],
            shared_dir: root,
            server: Server::new(fs.clone()),
            fs,
            activation: Activation::new().map_err(FsError::EventFd)?,
            session_reset_pending: false,
            warned: 0,
        })
    }

    /// The directory served (resolved).
    pub fn shared_dir(&self) -> &std::path::Path {
        &self.shared_dir
    }

    fn warn_once(&mut self, kind: QueueWarning, what: &str) {
        let bit = kind as u32;
        if self.warned & bit == 0 {
            self.warned |= bit;
            warn!("virtio-fs: {what} (logged once)");
        }
    }

    /// Drops the FUSE session of a driver that reset the device.
    pub(crate) fn finish_session_reset(&mut self) {
        if std::mem::take(&mut self.session_reset_pending) {
            self.fs.destroy();
        }
    }

    /// Serves every request the guest made available on queue `index`.
    pub(crate) fn process_queue(&mut self, index: usize) {
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mut warnings = 0u32;
        let mut used_any = false;
        let mem = &active.mem;
        let Some(queue) = active.queues.get_mut(index) else {
            return;
        };
        loop {
            if !avail_idx_is_sane(queue, mem) {
                warnings |= QueueWarning::AvailIndex as u32;
                break;
            }
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            if head >= queue.size() {
                // No such descriptor: nothing to parse or give back.
                warnings |= QueueWarning::BadHeadIndex as u32;
                continue;
            }
            // A request that cannot be parsed, or that needs no reply
            // (FORGET), goes back to the guest with nothing written.
            let used_len = match serve_request(&self.server, mem, chain) {
                Some(len) => u32::try_from(len).unwrap_or(0),
                None => {
                    warnings |= QueueWarning::DroppedRequest as u32;
                    0
                }
            };
            if queue.add_used(mem, head, used_len).is_err() {
                warnings |= QueueWarning::UsedRing as u32;
                break;
            }
            used_any = true;
        }
        if used_any {
            let notify = queue.needs_notification(mem).unwrap_or(true);
            if notify && active.interrupt.signal_used_queue().is_err() {
                warnings |= QueueWarning::Interrupt as u32;
            }
        }
        for (kind, what) in [
            (
                QueueWarning::DroppedRequest,
                "dropped a request that is not valid FUSE",
            ),
            (QueueWarning::UsedRing, "cannot write the used ring"),
            (QueueWarning::Interrupt, "cannot signal the guest"),
            (
                QueueWarning::AvailIndex,
                "ignored an avail index more than a queue ahead",
            ),
            (
                QueueWarning::BadHeadIndex,
                "skipped a descriptor index past the queue",
            ),
        ] {
            if warnings & kind as u32 != 0 {
                self.warn_once(kind, what);
            }
        }
    }
}

impl VirtioDevice for Fs {
    fn device_type(&self) -> u32 {
        device_type::FS
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_max_sizes
    }

    fn avail_features(&self) -> u64 {
        1 << VIRTIO_F_VERSION_1
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        crate::read_config_bytes(&self.config, offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // The config space is read-only.
    }

    fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError> {
        self.activation.activate(active, NUM_QUEUES)
    }

    fn reset(&mut self) {
        self.activation.reset();
        // The next driver starts with FUSE INIT: the event loop drops every
        // inode and handle the old one held, as for DESTROY, on its own
        // thread (where the FUSE session lives).
        self.session_reset_pending = true;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    use fuse_backend_rs::abi::fuse_abi::{Opcode, ROOT_ID};
    use vm_memory::{ByteValued, Bytes, GuestAddress};

    use super::*;
    use crate::fs::test_utils::{cstr, TestContext, DESC_F_WRITE, MEM_SIZE, REPLY_LEN};
    use crate::fs::REQUEST_QUEUE;

    fn mode_of(path: &std::path::Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
    }

    #[test]
    fn config_space_holds_the_tag_and_one_request_queue() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Fs::new("runvm", dir.path().to_owned(), FsOptions::default()).unwrap();
        assert_eq!(fs.device_type(), 26);
        assert_eq!(fs.queue_max_sizes(), &[QUEUE_SIZE, QUEUE_SIZE]);
        assert_eq!(fs.avail_features(), 1 << 32);
        let mut config = [0xffu8; CONFIG_SPACE_SIZE + 4];
        fs.read_config(0, &mut config);
        assert_eq!(&config[..5], b"runvm");
        assert!(config[5..TAG_LEN].iter().all(|&b| b == 0));
        assert_eq!(&config[TAG_LEN..CONFIG_SPACE_SIZE], &1u32.to_le_bytes());
        assert_eq!(&config[CONFIG_SPACE_SIZE..], &[0; 4]);
        let mut past_the_end = [0xffu8; 4];
        fs.read_config(u64::MAX, &mut past_the_end);
        assert_eq!(past_the_end, [0; 4]);
    }

    #[test]
    fn bad_tags_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        for tag in ["", "a\0b", &"x".repeat(TAG_LEN + 1)] {
            assert!(matches!(
                Fs::new(tag, path.clone(), FsOptions::default()),
                Err(FsError::InvalidTag(_))
            ));
        }
        assert!(Fs::new(&"x".repeat(TAG_LEN), path.clone(), FsOptions::default()).is_ok());
        assert!(matches!(
            Fs::new("t", path.join("missing"), FsOptions::default()),
            Err(FsError::SharedDir { .. })
        ));
        std::fs::write(path.join("file"), b"").unwrap();
        assert!(matches!(
            Fs::new("t", path.join("file"), FsOptions::default()),
            Err(FsError::NotADirectory(_))
        ));
    }

    #[test]
    fn the_share_is_opened_when_the_device_is_made() {
        let mut ctx = TestContext::new(FsOptions::default());
        // As if the VMM moved into a jail where the path means nothing.
        let moved = ctx.share.with_file_name("moved");
        std::fs::rename(&ctx.share, &moved).unwrap();
        std::fs::write(moved.join("file"), b"still served").unwrap();
        ctx.activate();
        ctx.init();
        let entry = ctx.lookup(ROOT_ID, b"file").unwrap();
        let fh = ctx.open(entry.nodeid, libc::O_RDONLY).unwrap();
        assert_eq!(ctx.read(entry.nodeid, fh, 0, 64).unwrap(), b"still served");
    }

    #[test]
    fn requests_are_as_large_as_the_guest_can_send() {
        let mut ctx = TestContext::new(FsOptions::default());
        ctx.activate();
        let large = (fuse_backend_rs::api::filesystem::FsOptions::BIG_WRITES
            | fuse_backend_rs::api::filesystem::FsOptions::MAX_PAGES)
            .bits();
        let out = ctx.init_offering(u32::try_from(large).unwrap());
        assert_eq!(out.max_write, 1 << 20);
        assert_eq!(out.max_pages, 256);

        let mut ctx = TestContext::new(FsOptions::default());
        ctx.activate();
        let out = ctx.init_offering(0);
        assert_eq!(out.max_pages, 0);
        assert!(out.max_write <= 8192, "max_write {}", out.max_write);
    }

    #[test]
    fn lookup_getattr_open_read_a_host_file() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        std::fs::write(ctx.share.join("hello.txt"), b"hello from the host").unwrap();
        let entry = ctx.lookup(ROOT_ID, b"hello.txt").unwrap();
        assert_ne!(entry.nodeid, 0);
        assert_eq!(entry.attr.size, 19);
        assert_eq!(entry.attr.mode & libc::S_IFMT, libc::S_IFREG);
        let attr = ctx.getattr(entry.nodeid).unwrap();
        assert_eq!(attr.attr.size, 19);
        assert_eq!(attr.attr_valid, 1, "CacheMode::Auto revalidates after 1 s");
        let fh = ctx.open(entry.nodeid, libc::O_RDONLY).unwrap();
        assert_eq!(
            ctx.read(entry.nodeid, fh, 0, 4096).unwrap(),
            b"hello from the host"
        );
        assert_eq!(ctx.read(entry.nodeid, fh, 11, 3).unwrap(), b"the");
        assert_eq!(ctx.lookup(ROOT_ID, b"missing").err(), Some(libc::ENOENT));
    }

    #[test]
    fn create_and_write_make_a_host_file_with_the_mode_asked() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        let (entry, fh) = ctx
            .create(
                ROOT_ID,
                b"new.txt",
                libc::O_WRONLY | libc::O_CREAT,
                libc::S_IFREG | 0o640,
            )
            .unwrap();
        assert_eq!(
            ctx.write(entry.nodeid, fh, 0, b"written by the guest"),
            Ok(20)
        );
        let path = ctx.share.join("new.txt");
        assert_eq!(std::fs::read(&path).unwrap(), b"written by the guest");
        assert_eq!(mode_of(&path) & 0o7777, 0o640);
        let dir = ctx.mkdir(ROOT_ID, b"sub", 0o750).unwrap();
        assert_eq!(dir.attr.mode & libc::S_IFMT, libc::S_IFDIR);
        assert_eq!(mode_of(&ctx.share.join("sub")) & 0o7777, 0o750);
    }

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        std::fs::create_dir(ctx.share.join("sub")).unwrap();
        let sub = ctx.lookup(ROOT_ID, b"sub").unwrap().nodeid;
        for name in [&b".."[..], b".", b"../canary", b"sub/../../canary", b"/etc"] {
            assert_eq!(
                ctx.lookup(ROOT_ID, name).err(),
                Some(libc::EINVAL),
                "{name:?}"
            );
        }
        assert_eq!(ctx.lookup(sub, b"..").err(), Some(libc::EINVAL));
        for name in [&b".."[..], b"../escape", b"a/b"] {
            assert_eq!(
                ctx.create(
                    ROOT_ID,
                    name,
                    libc::O_RDWR | libc::O_CREAT,
                    libc::S_IFREG | 0o644
                )
                .err(),
                Some(libc::EINVAL),
                "{name:?}"
            );
            assert_eq!(ctx.mkdir(ROOT_ID, name, 0o755).err(), Some(libc::EINVAL));
            assert_eq!(ctx.symlink(ROOT_ID, name, b"/").err(), Some(libc::EINVAL));
            assert_eq!(
                ctx.status_of(Opcode::Unlink, ROOT_ID, &cstr(name)),
                libc::EINVAL
            );
        }
        let mut rename = ROOT_ID.to_le_bytes().to_vec();
        rename.extend_from_slice(&cstr(b"sub"));
        rename.extend_from_slice(&cstr(b"../escape"));
        assert_eq!(
            ctx.status_of(Opcode::Rename, ROOT_ID, &rename),
            libc::EINVAL
        );
        assert!(ctx.share.join("sub").is_dir());
        assert!(!ctx.share.parent().unwrap().join("escape").exists());
        ctx.assert_canary_untouched();
    }

    #[test]
    fn absolute_symlinks_are_stored_but_never_followed_on_the_host() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        let canary = ctx.canary.clone();
        std::os::unix::fs::symlink("/", ctx.share.join("evil")).unwrap();
        std::os::unix::fs::symlink(&canary, ctx.share.join("to_canary")).unwrap();
        let evil = ctx.lookup(ROOT_ID, b"evil").unwrap();
        assert_eq!(evil.attr.mode & libc::S_IFMT, libc::S_IFLNK);
        assert_eq!(ctx.readlink(evil.nodeid).unwrap(), b"/");
        // Looking up through the link is looking up in a symlink, not in /.
        let through = ctx.lookup(evil.nodeid, b"etc");
        assert!(through.is_err(), "{through:?}");
        assert_eq!(
            ctx.open(evil.nodeid, libc::O_RDONLY).err(),
            Some(libc::EACCES)
        );
        let to_canary = ctx.lookup(ROOT_ID, b"to_canary").unwrap();
        assert_eq!(
            ctx.open(to_canary.nodeid, libc::O_RDONLY).err(),
            Some(libc::EACCES)
        );
        assert_eq!(
            ctx.open(to_canary.nodeid, libc::O_RDWR).err(),
            Some(libc::EACCES)
        );
        // One the guest makes is the same.
        let made = ctx
            .symlink(ROOT_ID, b"made", canary.as_os_str().as_encoded_bytes())
            .unwrap();
        assert_eq!(std::fs::read_link(ctx.share.join("made")).unwrap(), canary);
        assert_eq!(
            ctx.open(made.nodeid, libc::O_WRONLY | libc::O_TRUNC).err(),
            Some(libc::EACCES)
        );
        // Creating through the link's name does not write through it.
        assert_eq!(
            ctx.create(
                ROOT_ID,
                b"made",
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                libc::S_IFREG | 0o644
            )
            .err(),
            Some(libc::EEXIST)
        );
        let reopened = ctx.create(
            ROOT_ID,
            b"made",
            libc::O_WRONLY | libc::O_CREAT,
            libc::S_IFREG | 0o644,
        );
        assert!(reopened.is_err(), "{reopened:?}");
        ctx.assert_canary_untouched();
    }

    #[test]
    fn device_nodes_are_refused_fifos_and_sockets_not_opened() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        let makedev_8_0 = 8 << 8;
        assert_eq!(
            ctx.mknod(ROOT_ID, b"sda", libc::S_IFBLK | 0o666, makedev_8_0)
                .err(),
            Some(libc::EPERM)
        );
        assert_eq!(
            ctx.mknod(ROOT_ID, b"mem", libc::S_IFCHR | 0o666, (1 << 8) | 1)
                .err(),
            Some(libc::EPERM)
        );
        assert_eq!(
            ctx.mknod(ROOT_ID, b"dir", libc::S_IFDIR | 0o755, 0).err(),
            Some(libc::EPERM)
        );
        assert!(!ctx.share.join("sda").exists());
        assert!(!ctx.share.join("mem").exists());
        // FIFOs may be made (the guest kernel runs them) but not opened here.
        let fifo = ctx
            .mknod(ROOT_ID, b"fifo", libc::S_IFIFO | 0o644, 0)
            .unwrap();
        assert!(std::fs::symlink_metadata(ctx.share.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(
            ctx.open(fifo.nodeid, libc::O_RDONLY).err(),
            Some(libc::EACCES)
        );
        assert_eq!(
            ctx.open(fifo.nodeid, libc::O_WRONLY).err(),
            Some(libc::EACCES)
        );
        let _listener = std::os::unix::net::UnixListener::bind(ctx.share.join("sock")).unwrap();
        let sock = ctx.lookup(ROOT_ID, b"sock").unwrap();
        assert_eq!(
            ctx.open(sock.nodeid, libc::O_RDWR).err(),
            Some(libc::EACCES)
        );
        // A regular file by mknod is fine.
        ctx.mknod(ROOT_ID, b"plain", libc::S_IFREG | 0o600, 0)
            .unwrap();
        assert!(ctx.share.join("plain").is_file());
    }

    #[test]
    fn setuid_and_setgid_bits_are_stripped() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        let (entry, _) = ctx
            .create(
                ROOT_ID,
                b"suid",
                libc::O_WRONLY | libc::O_CREAT,
                libc::S_IFREG | 0o6755,
            )
            .unwrap();
        assert_eq!(mode_of(&ctx.share.join("suid")) & 0o7777, 0o755);
        let attr = ctx
            .setattr_mode(entry.nodeid, libc::S_IFREG | 0o4755)
            .unwrap();
        assert_eq!(attr.attr.mode & 0o7777, 0o755);
        assert_eq!(mode_of(&ctx.share.join("suid")) & 0o7777, 0o755);
        ctx.setattr_mode(entry.nodeid, libc::S_IFREG | 0o1700)
            .unwrap();
        assert_eq!(
            mode_of(&ctx.share.join("suid")) & 0o7777,
            0o1700,
            "sticky kept"
        );
        ctx.mkdir(ROOT_ID, b"sgid", 0o2775).unwrap();
        assert_eq!(mode_of(&ctx.share.join("sgid")) & 0o7777, 0o775);
        ctx.mknod(ROOT_ID, b"node", libc::S_IFREG | 0o4700, 0)
            .unwrap();
        assert_eq!(mode_of(&ctx.share.join("node")) & 0o7777, 0o700);
    }

    #[test]
    fn a_readonly_share_refuses_every_change() {
        let mut ctx = TestContext::mounted(FsOptions {
            readonly: true,
            ..FsOptions::default()
        });
        std::fs::write(ctx.share.join("file"), b"kept").unwrap();
        let file = ctx.lookup(ROOT_ID, b"file").unwrap().nodeid;
        assert_eq!(
            ctx.create(
                ROOT_ID,
                b"new",
                libc::O_WRONLY | libc::O_CREAT,
                libc::S_IFREG | 0o644
            )
            .err(),
            Some(libc::EROFS)
        );
        assert_eq!(ctx.open(file, libc::O_RDWR).err(), Some(libc::EROFS));
        assert_eq!(
            ctx.open(file, libc::O_RDONLY | libc::O_TRUNC).err(),
            Some(libc::EROFS)
        );
        let fh = ctx.open(file, libc::O_RDONLY).unwrap();
        assert_eq!(ctx.read(file, fh, 0, 16).unwrap(), b"kept");
        assert_eq!(ctx.write(file, fh, 0, b"changed").err(), Some(libc::EROFS));
        assert_eq!(
            ctx.status_of(Opcode::Unlink, ROOT_ID, &cstr(b"file")),
            libc::EROFS
        );
        assert_eq!(
            ctx.setattr_mode(file, libc::S_IFREG | 0o777).err(),
            Some(libc::EROFS)
        );
        assert_eq!(ctx.mkdir(ROOT_ID, b"dir", 0o755).err(), Some(libc::EROFS));
        assert_eq!(
            ctx.symlink(ROOT_ID, b"link", b"file").err(),
            Some(libc::EROFS)
        );
        assert_eq!(
            ctx.mknod(ROOT_ID, b"fifo", libc::S_IFIFO | 0o644, 0).err(),
            Some(libc::EROFS)
        );
        assert_eq!(std::fs::read(ctx.share.join("file")).unwrap(), b"kept");
        assert_eq!(std::fs::read_dir(&ctx.share).unwrap().count(), 1);
    }

    #[test]
    fn oversized_xattr_buffers_are_refused() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        std::fs::write(ctx.share.join("file"), b"").unwrap();
        let file = ctx.lookup(ROOT_ID, b"file").unwrap().nodeid;
        let mut getxattr = u32::MAX.to_le_bytes().to_vec();
        getxattr.extend_from_slice(&[0; 4]);
        getxattr.extend_from_slice(&cstr(b"user.big"));
        assert_eq!(
            ctx.status_of(Opcode::Getxattr, file, &getxattr),
            libc::ERANGE
        );
        let listxattr = [u32::MAX.to_le_bytes(), [0; 4]].concat();
        assert_eq!(
            ctx.status_of(Opcode::Listxattr, file, &listxattr),
            libc::ERANGE
        );
        let value = b"cap";
        let mut setxattr = (value.len() as u32).to_le_bytes().to_vec();
        setxattr.extend_from_slice(&[0; 4]);
        setxattr.extend_from_slice(&cstr(b"security.capability"));
        setxattr.extend_from_slice(value);
        assert_eq!(
            ctx.status_of(Opcode::Setxattr, file, &setxattr),
            libc::EPERM
        );
    }

    #[test]
    fn malformed_requests_get_an_error_or_are_dropped() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        // A header cut short.
        assert_eq!(
            ctx.send_raw(REQUEST_QUEUE, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
                .1,
            0
        );
        // A LOOKUP whose header claims more than the chain holds.
        let mut header = ctx.header(Opcode::Lookup, ROOT_ID, 500);
        let mut bytes = header.as_slice().to_vec();
        bytes.extend_from_slice(&cstr(b"x"));
        assert_eq!(ctx.send_raw(REQUEST_QUEUE, &bytes).1, 0);
        // One whose length is below its header's.
        header.len = 3;
        let bytes = header.as_slice().to_vec();
        let (_, used) = ctx.send_raw(REQUEST_QUEUE, &bytes);
        assert!(used == 0 || used == 16, "{used}");
        // One longer than any FUSE request: refused without reading it.
        let header = ctx.header(Opcode::Write, ROOT_ID, 16 << 20);
        let (_, used) = ctx.send_raw(REQUEST_QUEUE, header.as_slice());
        assert!(used == 0 || used == 16, "{used}");
        // An unknown opcode gets ENOSYS.
        let header = ctx.header(Opcode::Lookup, ROOT_ID, 0);
        let mut unknown = header;
        unknown.opcode = 9999;
        let (_, used) = ctx.send_raw(REQUEST_QUEUE, unknown.as_slice());
        assert_eq!(used, 16);
        // No writable buffer for the reply.
        let header = ctx.header(Opcode::Getattr, ROOT_ID, 16);
        let mut getattr = header.as_slice().to_vec();
        getattr.extend_from_slice(&[0; 16]);
        let q = &ctx.queues[REQUEST_QUEUE];
        let addr = q.slot_addr(q.peek_desc(0));
        ctx.guest_mem
            .write_slice(&getattr, GuestAddress(addr))
            .unwrap();
        let used = ctx.send_chain(REQUEST_QUEUE, &[(addr, getattr.len() as u32, 0)]);
        assert_eq!(used.map(|u| u.1), Some(0));
        // Buffers outside guest memory.
        let used = ctx.send_chain(
            REQUEST_QUEUE,
            &[(MEM_SIZE - 8, 64, 0), (MEM_SIZE, REPLY_LEN, DESC_F_WRITE)],
        );
        assert_eq!(used.map(|u| u.1), Some(0));
        let used = ctx.send_chain(REQUEST_QUEUE, &[(u64::MAX - 4, 64, 0)]);
        assert_eq!(used.map(|u| u.1), Some(0));
        // A descriptor index past the queue is skipped.
        ctx.queues[REQUEST_QUEUE].make_available(999);
        ctx.notify(REQUEST_QUEUE);
        // A reply buffer too small for the reply.
        let header = ctx.header(Opcode::Getattr, ROOT_ID, 16);
        let getattr = [header.as_slice(), &[0u8; 16]].concat();
        let q = &ctx.queues[REQUEST_QUEUE];
        let (addr, reply_addr) = (q.slot_addr(q.peek_desc(0)), q.slot_addr(q.peek_desc(1)));
        ctx.guest_mem
            .write_slice(&getattr, GuestAddress(addr))
            .unwrap();
        let used = ctx.send_chain(
            REQUEST_QUEUE,
            &[
                (addr, getattr.len() as u32, 0),
                (reply_addr, 20, DESC_F_WRITE),
            ],
        );
        assert!(used.is_some_and(|(_, len)| len <= 20), "{used:?}");
        // Names longer than FUSE allows, with or without a NUL.
        for name in [vec![b'n'; 8192], cstr(&[b'n'; 2000])] {
            assert_eq!(
                ctx.status_of(Opcode::Lookup, ROOT_ID, &name),
                libc::ENAMETOOLONG
            );
        }
        let mut symlink = cstr(b"link");
        symlink.extend_from_slice(&[b't'; 8192]);
        assert_eq!(
            ctx.status_of(Opcode::Symlink, ROOT_ID, &symlink),
            libc::ENAMETOOLONG
        );
        assert_eq!(ctx.lookup(ROOT_ID, &[b'n'; 255]).err(), Some(libc::ENOENT));
        // The device still serves requests.
        std::fs::write(ctx.share.join("still"), b"fine").unwrap();
        assert!(ctx.lookup(ROOT_ID, b"still").is_ok());
    }

    #[test]
    fn forget_on_the_hiprio_queue_gets_no_reply() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        std::fs::write(ctx.share.join("file"), b"").unwrap();
        let entry = ctx.lookup(ROOT_ID, b"file").unwrap();
        ctx.forget(entry.nodeid, 1);
        // The inode is gone; a new lookup makes it again.
        assert_eq!(ctx.getattr(entry.nodeid).err(), Some(libc::EBADF));
        assert!(ctx.lookup(ROOT_ID, b"file").is_ok());
    }

    #[test]
    fn reset_drops_the_old_session() {
        let mut ctx = TestContext::mounted(FsOptions::default());
        std::fs::write(ctx.share.join("file"), b"data").unwrap();
        let entry = ctx.lookup(ROOT_ID, b"file").unwrap();
        ctx.reset();
        assert!(ctx.fs.lock().unwrap().activation.active.is_none());
        ctx.activate();
        ctx.init();
        assert_eq!(ctx.getattr(entry.nodeid).err(), Some(libc::EBADF));
        let entry = ctx.lookup(ROOT_ID, b"file").unwrap();
        let fh = ctx.open(entry.nodeid, libc::O_RDONLY).unwrap();
        assert_eq!(ctx.read(entry.nodeid, fh, 0, 4).unwrap(), b"data");
    }
}
