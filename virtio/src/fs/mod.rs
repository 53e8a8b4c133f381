//! virtio-fs: a host directory served to the guest by an in-process FUSE
//! server (fuse-backend-rs's `PassthroughFs`), behind [`secure::SecureFs`],
//! a layer that enforces what a hostile guest must not do on the host.
//!
//! The guest mounts it with `mount -t virtiofs <tag> <dir>`. The device has
//! one high-priority queue (FORGET, INTERRUPT) and one request queue; both
//! are served on the VMM's event-loop thread, one request at a time. What
//! a guest may and may not do to the share is listed in `secure.rs`.
//!
//! Caching: [`CacheMode::Auto`] by default (the guest caches data and
//! metadata, revalidated after [`AUTO_CACHE_TIMEOUT`]), virtiofsd's default.
//! Nothing has been measured yet.

mod device;
mod event_handler;
mod fd_limit;
mod secure;
#[cfg(test)]
mod test_utils;

use std::path::PathBuf;
use std::time::Duration;

pub use device::Fs;

/// Size of each of the two queues.
pub const QUEUE_SIZE: u16 = 1024;
/// Index of the high-priority queue (FORGET and INTERRUPT requests).
pub const HIPRIO_QUEUE: usize = 0;
/// Index of the (only) request queue.
pub const REQUEST_QUEUE: usize = 1;
/// Number of queues: hiprio plus one request queue.
pub const NUM_QUEUES: usize = 2;
/// The `num_request_queues` the config space announces.
pub const NUM_REQUEST_QUEUES: u32 = 1;

/// Length of the `tag` field of the config space (NUL padded; a tag of
/// exactly this length has no terminating NUL).
pub const TAG_LEN: usize = 36;
/// `struct virtio_fs_config { u8 tag[36]; le32 num_request_queues; }`
pub const CONFIG_SPACE_SIZE: usize = TAG_LEN + 4;

/// Longest request whose body is one name (LOOKUP, CREATE, ...): the
/// header, the largest fixed part, and a name of up to 1024 bytes (the
/// Linux FUSE client's limit) with its NUL. Longer ones get ENAMETOOLONG.
pub const MAX_NAME_REQUEST_LEN: u32 = 40 + 16 + 1025;
/// Longest RENAME, RENAME2 or SYMLINK request: two names, one of them
/// possibly a symlink target of up to PATH_MAX bytes.
pub const MAX_TWO_NAME_REQUEST_LEN: u32 = 40 + 16 + 1025 + 4096;
/// Longest SETXATTR request: an xattr name and a value of up to
/// [`MAX_XATTR_SIZE`] bytes.
pub const MAX_SETXATTR_REQUEST_LEN: u32 = 40 + 8 + 256 + MAX_XATTR_SIZE;
/// Largest extended attribute value or name list (Linux's XATTR_SIZE_MAX).
pub const MAX_XATTR_SIZE: u32 = 64 * 1024;
/// Largest directory listing buffer read from the host for one READDIR.
pub const MAX_READDIR_SIZE: u32 = 1024 * 1024;
/// Most host file descriptors the share may hold open at once: one per
/// inode the guest knows about plus one per open file or directory. Past it,
/// requests that would open another one fail with EMFILE. The process's
/// RLIMIT_NOFILE is raised to fit it; where it cannot be, the bound is
/// lower (see `fd_limit.rs`).
pub const MAX_HOST_FDS: usize = 65536;

/// How long the guest may cache entries and attributes with
/// [`CacheMode::Auto`].
pub const AUTO_CACHE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the guest may cache entries and attributes with
/// [`CacheMode::Always`].
pub const ALWAYS_CACHE_TIMEOUT: Duration = Duration::from_secs(86400);

/// How much the guest caches of the share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// No data cache (direct I/O) and no entry or attribute cache: for a
    /// share the host changes under the guest.
    Never,
    /// The guest's page cache, dropped when a file is reopened and its
    /// attributes changed; entries and attributes revalidated after
    /// [`AUTO_CACHE_TIMEOUT`].
    #[default]
    Auto,
    /// Everything cached for [`ALWAYS_CACHE_TIMEOUT`]: only for a share
    /// nobody but the guest changes.
    Always,
}

/// How the share is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsOptions {
    /// Refuse every request that would change the share (EROFS).
    pub readonly: bool,
    /// How much the guest caches.
    pub cache: CacheMode,
}

/// Errors of the virtio-fs device.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The tag is empty, longer than [`TAG_LEN`] bytes, or holds a NUL.
    #[error("invalid virtio-fs tag {0:?}: 1 to 36 bytes, no NUL")]
    InvalidTag(String),
    /// The shared directory cannot be resolved.
    #[error("shared directory {path}: {source}")]
    SharedDir {
        /// The directory as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The shared directory is not a directory.
    #[error("shared directory {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The shared directory's path is not UTF-8 (the FUSE server needs it so).
    #[error("shared directory {0} is not a UTF-8 path")]
    NonUtf8Path(PathBuf),
    /// The FUSE server could not be set up.
    #[error("passthrough file system: {0}")]
    Passthrough(#[source] std::io::Error),
    /// An eventfd could not be created.
    #[error("eventfd: {0}")]
    EventFd(#[source] std::io::Error),
}
