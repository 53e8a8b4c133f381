//! The virtio-fs device: config space, activation, and handing each request
//! on the queues to the FUSE server.

use std::num::Wrapping;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuse_backend_rs::api::filesystem::FileSystem;
use fuse_backend_rs::api::server::Server;
use fuse_backend_rs::passthrough::{CachePolicy, Config, PassthroughFs};
use fuse_backend_rs::transport::{Reader, VirtioFsWriter, Writer};
use tracing::warn;
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::secure::SecureFs;
use super::{
    CacheMode, FsError, FsOptions, ALWAYS_CACHE_TIMEOUT, AUTO_CACHE_TIMEOUT, CONFIG_SPACE_SIZE,
    MAX_HOST_FDS, NUM_QUEUES, NUM_REQUEST_QUEUES, QUEUE_SIZE, TAG_LEN,
};
use crate::features::VIRTIO_F_VERSION_1;
use crate::{device_type, GuestMemory, Interrupt, VirtioDevice, VirtioError};

/// Whether the driver published at most a queue's worth of new buffers; a
/// guest that claims more is ignored rather than walked.
fn avail_idx_is_sane(queue: &Queue, mem: &GuestMemory) -> bool {
    queue
        .avail_idx(mem, Ordering::Acquire)
        .is_ok_and(|idx| (idx - Wrapping(queue.next_avail())).0 <= queue.size())
}

/// What the device holds between activation and reset.
#[derive(Debug)]
pub(crate) struct ActiveState {
    pub(crate) mem: GuestMemory,
    pub(crate) interrupt: Arc<Interrupt>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) queue_evts: Vec<EventFd>,
}

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
/// creating requests, and sets the process umask to 0 on FUSE INIT.
pub struct Fs {
    config: [u8; CONFIG_SPACE_SIZE],
    queue_max_sizes: [u16; NUM_QUEUES],
    shared_dir: PathBuf,
    server: Server<Arc<SecureFs>>,
    /// The file system behind `server`, to drop its state on reset.
    fs: Arc<SecureFs>,
    /// Signalled (from a vCPU thread) on activation and reset, so that the
    /// event loop updates what it polls.
    pub(crate) activate_evt: EventFd,
    pub(crate) active: Option<ActiveState>,
    /// Whether the active queue eventfds are in the poll set.
    pub(crate) queue_evts_registered: bool,
    /// Queue eventfds of a reset device, to take out of the poll set.
    pub(crate) retired_queue_evts: Vec<EventFd>,
    warned: u32,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("shared_dir", &self.shared_dir)
            .field("active", &self.active.is_some())
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

fn passthrough_config(root_dir: String, cache: CacheMode) -> Config {
    let (cache_policy, timeout) = match cache {
        CacheMode::Never => (CachePolicy::Never, std::time::Duration::ZERO),
        CacheMode::Auto => (CachePolicy::Auto, AUTO_CACHE_TIMEOUT),
        CacheMode::Always => (CachePolicy::Always, ALWAYS_CACHE_TIMEOUT),
    };
    Config {
        root_dir,
        cache_policy,
        entry_timeout: timeout,
        attr_timeout: timeout,
        // Containers use xattrs (file capabilities, ACLs); SecureFs vets them.
        xattr: true,
        // The share is opened at FUSE INIT and reopened on DESTROY.
        do_import: true,
        writeback: false,
        // File handles need CAP_DAC_READ_SEARCH; O_PATH fds, bounded by
        // SecureFs, work everywhere.
        inode_file_handles: false,
        ..Config::default()
    }
}

impl Fs {
    /// A device serving the directory `shared_dir` under `tag` (what the
    /// guest passes to `mount -t virtiofs`; 1 to 36 bytes).
    ///
    /// The directory is resolved now (symlinks included) and opened when
    /// the guest driver sends FUSE INIT.
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
        let passthrough = PassthroughFs::new(passthrough_config(root_dir, options.cache))
            .map_err(FsError::Passthrough)?;
        let fs = Arc::new(SecureFs::new(passthrough, options.readonly, MAX_HOST_FDS));
        Ok(Self {
            config,
            queue_max_sizes: [QUEUE_SIZE; NUM_QUEUES],
            shared_dir: root,
            server: Server::new(fs.clone()),
            fs,
            activate_evt: EventFd::new(EFD_NONBLOCK).map_err(FsError::EventFd)?,
            active: None,
            queue_evts_registered: false,
            retired_queue_evts: Vec::new(),
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

    /// Serves every request the guest made available on queue `index`.
    pub(crate) fn process_queue(&mut self, index: usize) {
        let Some(active) = self.active.as_mut() else {
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
            let reply_len = Reader::from_descriptor_chain(mem, chain.clone())
                .and_then(|reader| VirtioFsWriter::new(mem, chain).map(|writer| (reader, writer)))
                .map_err(|_| ())
                .and_then(|(reader, writer)| {
                    self.server
                        .handle_message(reader, Writer::VirtioFs(writer), None, None)
                        .map_err(|_| ())
                });
            // A request that cannot be parsed, or that needs no reply
            // (FORGET), goes back to the guest with nothing written.
            let used_len = match reply_len {
                Ok(len) => u32::try_from(len).unwrap_or(0),
                Err(()) => {
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
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = u64::try_from(i)
                .ok()
                .and_then(|i| offset.checked_add(i))
                .and_then(|o| usize::try_from(o).ok())
                .and_then(|o| self.config.get(o))
                .copied()
                .unwrap_or(0);
        }
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // The config space is read-only.
    }

    fn activate(
        &mut self,
        mem: GuestMemory,
        interrupt: Arc<Interrupt>,
        queues: Vec<Queue>,
        queue_evts: Vec<EventFd>,
    ) -> Result<(), VirtioError> {
        if queues.len() != NUM_QUEUES || queue_evts.len() != NUM_QUEUES {
            return Err(VirtioError::QueueCount {
                expected: NUM_QUEUES,
                got: queues.len().min(queue_evts.len()),
            });
        }
        if let Some(index) = queues.iter().position(|q| !q.ready()) {
            return Err(VirtioError::InvalidQueue(index));
        }
        // The event loop registers the queues when it sees this; it cannot
        // run before we release the device lock.
        self.activate_evt
            .write(1)
            .map_err(|e| VirtioError::Activation(e.to_string()))?;
        self.active = Some(ActiveState {
            mem,
            interrupt,
            queues,
            queue_evts,
        });
        Ok(())
    }

    fn reset(&mut self) {
        if let Some(active) = self.active.take() {
            if self.queue_evts_registered {
                self.retired_queue_evts.extend(active.queue_evts);
            }
            self.queue_evts_registered = false;
        }
        // The next driver starts with FUSE INIT: drop every inode and handle
        // the old one held (DESTROY does the same).
        self.fs.destroy();
        // Let the event loop drop what it polls for the old activation. An
        // eventfd write cannot fail short of counter overflow.
        let _ = self.activate_evt.write(1);
    }
}
