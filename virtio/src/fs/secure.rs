//! [`SecureFs`]: the checks a hostile guest's requests go through before
//! they reach fuse-backend-rs's `PassthroughFs`.
//!
//! What `PassthroughFs` already guarantees, and we rely on:
//! - every inode is an `O_PATH | O_NOFOLLOW` fd opened with `openat` relative
//!   to its parent's fd, so no host path is ever resolved from a string the
//!   guest sent, and symlinks (absolute or not) are never followed on the
//!   host: the guest reads them (READLINK) and resolves them itself;
//! - data is opened by re-opening that fd through `/proc/self/fd`, only for
//!   regular files and directories (EBADF otherwise);
//! - names with `/` are refused by LOOKUP; but `.` and `..` are accepted
//!   (`..` from the root is the share's parent), and with `do_import` off
//!   (the root is opened up front, see [`SecureFs::open`]) the other
//!   operations check no names at all.
//!
//! What this layer adds (the guest only ever reaches the passthrough
//! through it):
//! - names: empty, `.`, `..` or holding `/` are EINVAL for every operation
//!   that takes one (LOOKUP, CREATE, MKNOD, MKDIR, SYMLINK, LINK, RENAME,
//!   UNLINK, RMDIR);
//! - FUSE INIT never enables no-OPEN mode, writeback caching, killpriv_v2
//!   or DAX;
//! - OPEN of anything but a regular file or directory: EACCES (device
//!   nodes, FIFOs, sockets and symlinks are the guest kernel's business);
//! - MKNOD of anything but a regular file, FIFO or socket: EPERM;
//! - setuid and setgid bits are stripped from CREATE, MKNOD, MKDIR and
//!   SETATTR modes; SETXATTR of `security.capability` or `trusted.*` is
//!   EPERM (file capabilities and overlayfs metadata on the host). CHOWN is
//!   allowed: the host kernel clears setuid/setgid on a chown itself;
//! - xattr sizes above [`MAX_XATTR_SIZE`] are ERANGE / E2BIG before any
//!   buffer is allocated, READDIR sizes are clamped to [`MAX_READDIR_SIZE`];
//! - at most `max_host_fds` host fds (inodes the guest holds plus open
//!   handles): more is EMFILE;
//! - a read-only share refuses every mutating request with EROFS;
//! - the umask of 0 the passthrough sets (it applies the guest's umask
//!   itself) is confined to the serving thread with `unshare(CLONE_FS)`.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fuse_backend_rs::abi::fuse_abi::{stat64, statvfs64, CreateIn};
use fuse_backend_rs::api::filesystem::{
    Context, DirEntry, Entry, FileSystem, FsOptions as FuseInitOptions, GetxattrReply,
    ListxattrReply, OpenOptions, SetattrValid, ZeroCopyReader, ZeroCopyWriter,
};
use fuse_backend_rs::passthrough::{CachePolicy, Config, PassthroughFs};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{umask, Mode};
use tracing::warn;

use super::{
    CacheMode, FsOptions, ALWAYS_CACHE_TIMEOUT, AUTO_CACHE_TIMEOUT, MAX_READDIR_SIZE,
    MAX_XATTR_SIZE,
};

type Inode = u64;
type Handle = u64;

const SETID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;
const O_ACCMODE: u32 = libc::O_ACCMODE.unsigned_abs();
const O_RDONLY: u32 = libc::O_RDONLY.unsigned_abs();
const O_TRUNC: u32 = libc::O_TRUNC.unsigned_abs();
const O_CREAT: u32 = libc::O_CREAT.unsigned_abs();
const O_APPEND: u32 = libc::O_APPEND.unsigned_abs();
const O_DIRECT: u32 = libc::O_DIRECT.unsigned_abs();
const O_NOATIME: u32 = libc::O_NOATIME.unsigned_abs();
const O_PATH: u32 = libc::O_PATH.unsigned_abs();

/// The guest kernel never sends O_PATH in OPEN or OPENDIR (such opens stay
/// in the guest); a hostile guest that does would get a handle whose fd
/// refuses F_SETFL with EBADF, the failure that makes the passthrough
/// close the fd early (see [`SecureFs::setfl_safe`]).
fn check_open_flags(flags: u32) -> io::Result<()> {
    if flags & O_PATH != 0 {
        return Err(errno(libc::EINVAL));
    }
    Ok(())
}

/// FUSE INIT options we never enable: no OPEN / OPENDIR requests (they are
/// where files are checked), writeback caching and killpriv_v2 (the
/// passthrough's support assumes a trusted client), DAX (no window).
const UNSUPPORTED_INIT_OPTIONS: FuseInitOptions = FuseInitOptions::ZERO_MESSAGE_OPEN
    .union(FuseInitOptions::ZERO_MESSAGE_OPENDIR)
    .union(FuseInitOptions::WRITEBACK_CACHE)
    .union(FuseInitOptions::HANDLE_KILLPRIV_V2)
    .union(FuseInitOptions::PERFILE_DAX);

/// FUSE INIT options for requests of up to 1 MiB.
const LARGE_REQUESTS: FuseInitOptions =
    FuseInitOptions::BIG_WRITES.union(FuseInitOptions::MAX_PAGES);

/// xattrs the guest may not set on host files.
const PRIVILEGED_XATTR_NAME: &[u8] = b"security.capability";
const PRIVILEGED_XATTR_PREFIX: &[u8] = b"trusted.";

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

/// EINVAL unless `name` is one path component that stays in its directory.
fn check_name(name: &CStr) -> io::Result<()> {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err(errno(libc::EINVAL));
    }
    Ok(())
}

/// Gives the calling thread its own umask (and cwd), so that the umask of
/// 0 the passthrough sets at FUSE INIT and DESTROY stays on the thread that
/// serves requests instead of applying to the whole VMM.
fn confine_umask_to_this_thread() -> io::Result<()> {
    Ok(unshare(CloneFlags::CLONE_FS)?)
}

fn strip_setid(mode: u32) -> u32 {
    mode & !SETID_BITS
}

fn passthrough_config(root_dir: String, cache: CacheMode) -> Config {
    let (cache_policy, timeout) = match cache {
        CacheMode::Never => (CachePolicy::Never, Duration::ZERO),
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
        // The root is opened by `SecureFs::open`, not at FUSE INIT (when the
        // path may no longer resolve); the passthrough then leaves name
        // checks to us and honours the INIT options we pass it.
        do_import: false,
        writeback: false,
        // File handles need CAP_DAC_READ_SEARCH; O_PATH fds, bounded by
        // SecureFs, work everywhere.
        inode_file_handles: false,
        ..Config::default()
    }
}

/// Host fds the share holds on the guest's behalf.
#[derive(Debug, Default)]
struct HostFds {
    /// Lookup count of each inode the guest knows (each holds an `O_PATH` fd
    /// until the guest forgets it).
    inode_lookups: HashMap<Inode, u64>,
    /// Open file and directory handles, with the flags they were opened
    /// with.
    handles: HashMap<Handle, u32>,
}

impl HostFds {
    fn in_use(&self) -> usize {
        self.inode_lookups.len().saturating_add(self.handles.len())
    }

    fn add_lookup(&mut self, inode: Inode) {
        // Inode 0 is a negative entry: nothing held.
        if inode != 0 {
            let count = self.inode_lookups.entry(inode).or_default();
            *count = count.saturating_add(1);
        }
    }

    fn forget(&mut self, inode: Inode, count: u64) {
        if let Some(lookups) = self.inode_lookups.get_mut(&inode) {
            *lookups = lookups.saturating_sub(count);
            if *lookups == 0 {
                self.inode_lookups.remove(&inode);
            }
        }
    }
}

/// The passthrough file system with the checks above in front of it.
pub(crate) struct SecureFs {
    inner: PassthroughFs,
    readonly: bool,
    max_host_fds: usize,
    host_fds: Mutex<HostFds>,
}

impl SecureFs {
    /// Serves the directory `root_dir` (an absolute path, resolved), which
    /// is opened now.
    pub(crate) fn open(
        root_dir: String,
        options: FsOptions,
        max_host_fds: usize,
    ) -> io::Result<Self> {
        let inner = PassthroughFs::new(passthrough_config(root_dir, options.cache))?;
        // Opening the root sets the umask to 0: do it on a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    confine_umask_to_this_thread()?;
                    inner.import()
                })
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("opening the share panicked")))
        })?;
        Ok(Self {
            inner,
            readonly: options.readonly,
            max_host_fds,
            host_fds: Mutex::new(HostFds::default()),
        })
    }

    /// The accounting stays usable even if a panic poisoned the lock.
    fn host_fds(&self) -> MutexGuard<'_, HostFds> {
        self.host_fds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.readonly {
            return Err(errno(libc::EROFS));
        }
        Ok(())
    }

    /// EMFILE if the share already holds as many host fds as it may.
    fn check_fd_available(&self) -> io::Result<()> {
        if self.host_fds().in_use() >= self.max_host_fds {
            return Err(errno(libc::EMFILE));
        }
        Ok(())
    }

    /// Records the lookup an entry gives the guest.
    fn record_entry(&self, entry: Entry) -> Entry {
        self.host_fds().add_lookup(entry.inode);
        entry
    }

    fn record_handle(&self, handle: Option<Handle>, flags: u32) {
        if let Some(handle) = handle {
            self.host_fds().handles.insert(handle, flags);
        }
    }

    /// The flags READ and WRITE may pass on. The passthrough applies them
    /// with `fcntl(F_SETFL)` on the handle's fd, and if that fails it
    /// closes the fd it still owns (fuse-backend-rs 0.14), which the
    /// handle's RELEASE then closes a second time, whatever the number
    /// belongs to by then. So: no O_DIRECT (EINVAL where the host file
    /// system, or a directory, has none) and never clearing an O_APPEND
    /// the handle was opened with (EPERM on an append-only file).
    fn setfl_safe(&self, handle: Handle, flags: u32) -> u32 {
        let opened = self.host_fds().handles.get(&handle).copied().unwrap_or(0);
        (flags & !(O_DIRECT | O_NOATIME)) | (opened & O_APPEND)
    }

    fn file_type(&self, ctx: &Context, inode: Inode) -> io::Result<u32> {
        let (st, _) = self.inner.getattr(ctx, inode, None)?;
        Ok(st.st_mode & libc::S_IFMT)
    }
}

impl FileSystem for SecureFs {
    type Inode = Inode;
    type Handle = Handle;

    fn init(&self, capable: FuseInitOptions) -> io::Result<FuseInitOptions> {
        // The passthrough applies the guest's umask itself.
        confine_umask_to_this_thread()?;
        // Only this thread's umask changes.
        umask(Mode::empty());
        let wanted = self.inner.init(capable - UNSUPPORTED_INIT_OPTIONS)?;
        // The server sizes a request from these: 1 MiB (256 pages) each
        // when the guest can, 4 KiB writes otherwise, which the
        // passthrough never asks beyond.
        Ok(wanted | (capable & LARGE_REQUESTS))
    }

    fn destroy(&self) {
        // Reopens the share by its path, setting the umask again.
        if let Err(e) = confine_umask_to_this_thread() {
            warn!("virtio-fs: session kept, cannot confine the umask: {e}");
            return;
        }
        self.inner.destroy();
        *self.host_fds() = HostFds::default();
    }

    fn lookup(&self, ctx: &Context, parent: Inode, name: &CStr) -> io::Result<Entry> {
        check_name(name)?;
        let entry = self.inner.lookup(ctx, parent, name)?;
        let mut fds = self.host_fds();
        let known = fds.inode_lookups.contains_key(&entry.inode);
        if entry.inode != 0 && !known && fds.in_use() >= self.max_host_fds {
            drop(fds);
            // Give back the fd the lookup may have opened.
            self.inner.forget(ctx, entry.inode, 1);
            return Err(errno(libc::EMFILE));
        }
        fds.add_lookup(entry.inode);
        Ok(entry)
    }

    fn forget(&self, ctx: &Context, inode: Inode, count: u64) {
        self.inner.forget(ctx, inode, count);
        self.host_fds().forget(inode, count);
    }

    fn batch_forget(&self, ctx: &Context, requests: Vec<(Inode, u64)>) {
        {
            let mut fds = self.host_fds();
            for &(inode, count) in &requests {
                fds.forget(inode, count);
            }
        }
        self.inner.batch_forget(ctx, requests);
    }

    fn getattr(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Option<Handle>,
    ) -> io::Result<(stat64, Duration)> {
        self.inner.getattr(ctx, inode, handle)
    }

    fn setattr(
        &self,
        ctx: &Context,
        inode: Inode,
        mut attr: stat64,
        handle: Option<Handle>,
        valid: SetattrValid,
    ) -> io::Result<(stat64, Duration)> {
        self.check_writable()?;
        if valid.contains(SetattrValid::MODE) {
            attr.st_mode = strip_setid(attr.st_mode);
        }
        self.inner.setattr(ctx, inode, attr, handle, valid)
    }

    fn readlink(&self, ctx: &Context, inode: Inode) -> io::Result<Vec<u8>> {
        self.inner.readlink(ctx, inode)
    }

    fn symlink(
        &self,
        ctx: &Context,
        linkname: &CStr,
        parent: Inode,
        name: &CStr,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        check_name(name)?;
        self.check_fd_available()?;
        // The target is stored as the guest wrote it; the host never follows it.
        let entry = self.inner.symlink(ctx, linkname, parent, name)?;
        Ok(self.record_entry(entry))
    }

    fn mknod(
        &self,
        ctx: &Context,
        parent: Inode,
        name: &CStr,
        mode: u32,
        rdev: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        check_name(name)?;
        match mode & libc::S_IFMT {
            0 | libc::S_IFREG | libc::S_IFIFO | libc::S_IFSOCK => {}
            _ => return Err(errno(libc::EPERM)),
        }
        self.check_fd_available()?;
        let entry = self
            .inner
            .mknod(ctx, parent, name, strip_setid(mode), rdev, umask)?;
        Ok(self.record_entry(entry))
    }

    fn mkdir(
        &self,
        ctx: &Context,
        parent: Inode,
        name: &CStr,
        mode: u32,
        umask: u32,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        check_name(name)?;
        self.check_fd_available()?;
        let entry = self
            .inner
            .mkdir(ctx, parent, name, strip_setid(mode), umask)?;
        Ok(self.record_entry(entry))
    }

    fn unlink(&self, ctx: &Context, parent: Inode, name: &CStr) -> io::Result<()> {
        self.check_writable()?;
        check_name(name)?;
        self.inner.unlink(ctx, parent, name)
    }

    fn rmdir(&self, ctx: &Context, parent: Inode, name: &CStr) -> io::Result<()> {
        self.check_writable()?;
        check_name(name)?;
        self.inner.rmdir(ctx, parent, name)
    }

    fn rename(
        &self,
        ctx: &Context,
        olddir: Inode,
        oldname: &CStr,
        newdir: Inode,
        newname: &CStr,
        flags: u32,
    ) -> io::Result<()> {
        self.check_writable()?;
        check_name(oldname)?;
        check_name(newname)?;
        self.inner
            .rename(ctx, olddir, oldname, newdir, newname, flags)
    }

    fn link(
        &self,
        ctx: &Context,
        inode: Inode,
        newparent: Inode,
        newname: &CStr,
    ) -> io::Result<Entry> {
        self.check_writable()?;
        check_name(newname)?;
        self.check_fd_available()?;
        let entry = self.inner.link(ctx, inode, newparent, newname)?;
        Ok(self.record_entry(entry))
    }

    fn open(
        &self,
        ctx: &Context,
        inode: Inode,
        flags: u32,
        fuse_flags: u32,
    ) -> io::Result<(Option<Handle>, OpenOptions, Option<u32>)> {
        check_open_flags(flags)?;
        if flags & O_ACCMODE != O_RDONLY || flags & (O_TRUNC | O_CREAT) != 0 {
            self.check_writable()?;
        }
        match self.file_type(ctx, inode)? {
            libc::S_IFREG | libc::S_IFDIR => {}
            _ => return Err(errno(libc::EACCES)),
        }
        self.check_fd_available()?;
        let opened = self.inner.open(ctx, inode, flags, fuse_flags)?;
        self.record_handle(opened.0, flags);
        Ok(opened)
    }

    fn create(
        &self,
        ctx: &Context,
        parent: Inode,
        name: &CStr,
        mut args: CreateIn,
    ) -> io::Result<(Entry, Option<Handle>, OpenOptions, Option<u32>)> {
        self.check_writable()?;
        check_name(name)?;
        match args.mode & libc::S_IFMT {
            0 | libc::S_IFREG => {}
            _ => return Err(errno(libc::EPERM)),
        }
        args.mode = strip_setid(args.mode);
        self.check_fd_available()?;
        let flags = args.flags;
        let (entry, handle, options, passthrough) = self.inner.create(ctx, parent, name, args)?;
        self.record_handle(handle, flags);
        Ok((self.record_entry(entry), handle, options, passthrough))
    }

    #[allow(clippy::too_many_arguments)] // The trait's signature.
    fn read(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        w: &mut dyn ZeroCopyWriter,
        size: u32,
        offset: u64,
        lock_owner: Option<u64>,
        flags: u32,
    ) -> io::Result<usize> {
        let flags = self.setfl_safe(handle, flags);
        self.inner
            .read(ctx, inode, handle, w, size, offset, lock_owner, flags)
    }

    #[allow(clippy::too_many_arguments)] // The trait's signature.
    fn write(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        r: &mut dyn ZeroCopyReader,
        size: u32,
        offset: u64,
        lock_owner: Option<u64>,
        delayed_write: bool,
        flags: u32,
        fuse_flags: u32,
    ) -> io::Result<usize> {
        self.check_writable()?;
        let flags = self.setfl_safe(handle, flags);
        self.inner.write(
            ctx,
            inode,
            handle,
            r,
            size,
            offset,
            lock_owner,
            delayed_write,
            flags,
            fuse_flags,
        )
    }

    fn flush(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        lock_owner: u64,
    ) -> io::Result<()> {
        self.inner.flush(ctx, inode, handle, lock_owner)
    }

    fn fsync(&self, ctx: &Context, inode: Inode, datasync: bool, handle: Handle) -> io::Result<()> {
        self.inner.fsync(ctx, inode, datasync, handle)
    }

    fn fallocate(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        self.check_writable()?;
        self.inner
            .fallocate(ctx, inode, handle, mode, offset, length)
    }

    #[allow(clippy::too_many_arguments)] // The trait's signature.
    fn release(
        &self,
        ctx: &Context,
        inode: Inode,
        flags: u32,
        handle: Handle,
        flush: bool,
        flock_release: bool,
        lock_owner: Option<u64>,
    ) -> io::Result<()> {
        let released =
            self.inner
                .release(ctx, inode, flags, handle, flush, flock_release, lock_owner);
        self.host_fds().handles.remove(&handle);
        released
    }

    fn statfs(&self, ctx: &Context, inode: Inode) -> io::Result<statvfs64> {
        self.inner.statfs(ctx, inode)
    }

    fn setxattr(
        &self,
        ctx: &Context,
        inode: Inode,
        name: &CStr,
        value: &[u8],
        flags: u32,
    ) -> io::Result<()> {
        self.check_writable()?;
        let name_bytes = name.to_bytes();
        if name_bytes == PRIVILEGED_XATTR_NAME || name_bytes.starts_with(PRIVILEGED_XATTR_PREFIX) {
            return Err(errno(libc::EPERM));
        }
        if u32::try_from(value.len()).map_or(true, |len| len > MAX_XATTR_SIZE) {
            return Err(errno(libc::E2BIG));
        }
        self.inner.setxattr(ctx, inode, name, value, flags)
    }

    fn getxattr(
        &self,
        ctx: &Context,
        inode: Inode,
        name: &CStr,
        size: u32,
    ) -> io::Result<GetxattrReply> {
        if size > MAX_XATTR_SIZE {
            return Err(errno(libc::ERANGE));
        }
        self.inner.getxattr(ctx, inode, name, size)
    }

    fn listxattr(&self, ctx: &Context, inode: Inode, size: u32) -> io::Result<ListxattrReply> {
        if size > MAX_XATTR_SIZE {
            return Err(errno(libc::ERANGE));
        }
        self.inner.listxattr(ctx, inode, size)
    }

    fn removexattr(&self, ctx: &Context, inode: Inode, name: &CStr) -> io::Result<()> {
        self.check_writable()?;
        self.inner.removexattr(ctx, inode, name)
    }

    fn opendir(
        &self,
        ctx: &Context,
        inode: Inode,
        flags: u32,
    ) -> io::Result<(Option<Handle>, OpenOptions)> {
        check_open_flags(flags)?;
        self.check_fd_available()?;
        let opened = self.inner.opendir(ctx, inode, flags)?;
        self.record_handle(opened.0, flags);
        Ok(opened)
    }

    fn readdir(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry) -> io::Result<usize>,
    ) -> io::Result<()> {
        self.inner.readdir(
            ctx,
            inode,
            handle,
            size.min(MAX_READDIR_SIZE),
            offset,
            add_entry,
        )
    }

    fn readdirplus(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        size: u32,
        offset: u64,
        add_entry: &mut dyn FnMut(DirEntry, Entry) -> io::Result<usize>,
    ) -> io::Result<()> {
        let mut added_any = false;
        let mut out_of_fds = false;
        self.inner.readdirplus(
            ctx,
            inode,
            handle,
            size.min(MAX_READDIR_SIZE),
            offset,
            &mut |dir_entry, entry| {
                let mut fds = self.host_fds();
                let known = fds.inode_lookups.contains_key(&entry.inode);
                if !known && fds.in_use() >= self.max_host_fds {
                    // Ends the listing here; the passthrough gives the
                    // entry's lookup back as for a full buffer.
                    out_of_fds = true;
                    return Ok(0);
                }
                let written = add_entry(dir_entry, entry)?;
                if written > 0 {
                    fds.add_lookup(entry.inode);
                    added_any = true;
                }
                Ok(written)
            },
        )?;
        if out_of_fds && !added_any {
            return Err(errno(libc::EMFILE));
        }
        Ok(())
    }

    fn fsyncdir(
        &self,
        ctx: &Context,
        inode: Inode,
        datasync: bool,
        handle: Handle,
    ) -> io::Result<()> {
        self.inner.fsyncdir(ctx, inode, datasync, handle)
    }

    fn releasedir(
        &self,
        ctx: &Context,
        inode: Inode,
        flags: u32,
        handle: Handle,
    ) -> io::Result<()> {
        let released = self.inner.releasedir(ctx, inode, flags, handle);
        self.host_fds().handles.remove(&handle);
        released
    }

    fn access(&self, ctx: &Context, inode: Inode, mask: u32) -> io::Result<()> {
        if mask & libc::W_OK.unsigned_abs() != 0 {
            self.check_writable()?;
        }
        self.inner.access(ctx, inode, mask)
    }

    fn lseek(
        &self,
        ctx: &Context,
        inode: Inode,
        handle: Handle,
        offset: u64,
        whence: u32,
    ) -> io::Result<u64> {
        self.inner.lseek(ctx, inode, handle, offset, whence)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use fuse_backend_rs::api::filesystem::ROOT_ID;
    use tempfile::TempDir;

    use super::*;

    fn name(bytes: &[u8]) -> std::ffi::CString {
        std::ffi::CString::new(bytes).unwrap()
    }

    /// A `SecureFs` on a fresh directory holding `files`, after FUSE INIT.
    fn secure_fs(files: &[&str], max_host_fds: usize) -> (SecureFs, Context, TempDir) {
        let dir = TempDir::new().unwrap();
        for file in files {
            std::fs::write(dir.path().join(file), file.as_bytes()).unwrap();
        }
        let root_dir = dir.path().to_str().unwrap().to_owned();
        let fs = SecureFs::open(root_dir, FsOptions::default(), max_host_fds).unwrap();
        fs.init(FuseInitOptions::empty()).unwrap();
        let owner = std::fs::metadata(dir.path()).unwrap();
        let ctx = Context {
            uid: owner.uid(),
            gid: owner.gid(),
            pid: 1,
        };
        (fs, ctx, dir)
    }

    fn errno_of<T>(result: io::Result<T>) -> Option<i32> {
        result.err().and_then(|e| e.raw_os_error())
    }

    /// A guest buffer with nothing in it.
    struct NoData;

    impl io::Read for NoData {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl ZeroCopyReader for NoData {
        fn read_to(
            &mut self,
            _: &mut dyn fuse_backend_rs::file_traits::FileReadWriteVolatile,
            _: usize,
            _: u64,
        ) -> io::Result<usize> {
            Ok(0)
        }
    }

    /// The fuzzer's find: WRITE on a directory handle with O_DIRECT. The
    /// passthrough's fcntl(F_SETFL) fails there and, before SecureFs passed
    /// only settable flags, closed the handle's fd, which RELEASEDIR then
    /// closed again (std aborts the test on that double close).
    #[test]
    fn flags_the_host_cannot_set_do_not_close_a_handle() {
        let (fs, ctx, _dir) = secure_fs(&["file"], 64);
        let (handle, _) = fs.opendir(&ctx, ROOT_ID, 0).unwrap();
        let handle = handle.unwrap();
        let flags = O_DIRECT | O_NOATIME | libc::O_RDWR.unsigned_abs();
        // Twice: the second would find the fd already closed.
        for _ in 0..2 {
            let _ = fs.write(
                &ctx,
                ROOT_ID,
                handle,
                &mut NoData,
                1,
                0,
                None,
                false,
                flags,
                0,
            );
        }
        fs.releasedir(&ctx, ROOT_ID, 0, handle).unwrap();
        // A fd opened now may reuse a wrongly closed number; it must live.
        let probe = std::fs::File::open("/dev/null").unwrap();
        assert!(probe.metadata().is_ok());
    }

    #[test]
    fn o_path_opens_are_refused() {
        let (fs, ctx, _dir) = secure_fs(&["file"], 64);
        let entry = fs.lookup(&ctx, ROOT_ID, &name(b"file")).unwrap();
        let o_path = O_PATH | libc::O_APPEND.unsigned_abs();
        assert_eq!(
            errno_of(fs.open(&ctx, entry.inode, o_path, 0)),
            Some(libc::EINVAL)
        );
        assert_eq!(
            errno_of(fs.opendir(&ctx, ROOT_ID, o_path)),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn an_append_handle_keeps_o_append() {
        let (fs, ctx, _dir) = secure_fs(&["file"], 64);
        let entry = fs.lookup(&ctx, ROOT_ID, &name(b"file")).unwrap();
        let flags = libc::O_WRONLY.unsigned_abs() | O_APPEND;
        let (handle, _, _) = fs.open(&ctx, entry.inode, flags, 0).unwrap();
        let handle = handle.unwrap();
        assert_eq!(
            fs.setfl_safe(handle, libc::O_WRONLY.unsigned_abs()) & O_APPEND,
            O_APPEND
        );
        assert_eq!(fs.setfl_safe(handle, O_DIRECT) & O_DIRECT, 0);
    }

    #[test]
    fn names_must_stay_in_their_directory() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"../x", b"x/"] {
            assert_eq!(
                errno_of(check_name(&name(bad))),
                Some(libc::EINVAL),
                "{bad:?}"
            );
        }
        for good in [&b"a"[..], b"...", b"..a", b".hidden", b"a b", b"\xff"] {
            assert!(check_name(&name(good)).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn host_fds_are_bounded() {
        let (fs, ctx, _dir) = secure_fs(&["f0", "f1", "f2", "f3"], 3);
        let f0 = fs.lookup(&ctx, ROOT_ID, &name(b"f0")).unwrap().inode;
        fs.lookup(&ctx, ROOT_ID, &name(b"f1")).unwrap();
        let f2 = fs.lookup(&ctx, ROOT_ID, &name(b"f2")).unwrap().inode;
        assert_eq!(
            errno_of(fs.lookup(&ctx, ROOT_ID, &name(b"f3"))),
            Some(libc::EMFILE)
        );
        // An inode the guest already holds costs no new fd.
        assert_eq!(fs.lookup(&ctx, ROOT_ID, &name(b"f0")).unwrap().inode, f0);
        assert_eq!(
            errno_of(fs.open(&ctx, f0, libc::O_RDONLY.unsigned_abs(), 0)),
            Some(libc::EMFILE)
        );
        fs.forget(&ctx, f2, 1);
        let (handle, _, _) = fs.open(&ctx, f0, libc::O_RDONLY.unsigned_abs(), 0).unwrap();
        assert_eq!(
            errno_of(fs.lookup(&ctx, ROOT_ID, &name(b"f3"))),
            Some(libc::EMFILE)
        );
        fs.release(&ctx, f0, 0, handle.unwrap(), false, false, None)
            .unwrap();
        fs.lookup(&ctx, ROOT_ID, &name(b"f3")).unwrap();
        assert_eq!(fs.host_fds().in_use(), 3);
        // DESTROY gives everything back.
        fs.destroy();
        assert_eq!(fs.host_fds().in_use(), 0);
    }

    #[test]
    fn readdirplus_stops_at_the_fd_bound() {
        let list = |max_host_fds| {
            let (fs, ctx, _dir) = secure_fs(&["a", "b", "c", "d"], max_host_fds);
            let (handle, _) = fs
                .opendir(&ctx, ROOT_ID, libc::O_RDONLY.unsigned_abs())
                .unwrap();
            let mut listed = 0;
            let result = fs.readdirplus(&ctx, ROOT_ID, handle.unwrap(), 4096, 0, &mut |_, _| {
                listed += 1;
                Ok(1)
            });
            let in_use = fs.host_fds().in_use();
            (result.map(|()| listed), in_use)
        };
        // The open directory and one entry.
        let (listed, in_use) = list(2);
        assert_eq!((listed.unwrap(), in_use), (1, 2));
        // Nothing can be listed: an error, not an empty directory.
        let (listed, in_use) = list(1);
        assert_eq!((errno_of(listed), in_use), (Some(libc::EMFILE), 1));
        let (listed, _) = list(16);
        assert_eq!(listed.unwrap(), 4);
    }

    fn umask_in(status: &str) -> String {
        let status = std::fs::read_to_string(status).unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        line.trim_start_matches("Umask:").trim().to_owned()
    }

    #[test]
    fn the_umask_of_zero_stays_on_the_serving_thread() {
        // The usual 022 for the process (no test thread has unshared its
        // umask), so a leak of 0 shows.
        umask(Mode::from_bits_truncate(0o022));
        // /proc/self is the main thread, which shares the process umask.
        let process_umask = umask_in("/proc/self/status");
        assert_eq!(process_umask, "0022");
        std::thread::spawn(|| {
            let (fs, _, _dir) = secure_fs(&[], 4);
            assert_eq!(umask_in("/proc/thread-self/status"), "0000");
            fs.destroy();
            assert_eq!(umask_in("/proc/thread-self/status"), "0000");
        })
        .join()
        .unwrap();
        assert_eq!(umask_in("/proc/self/status"), process_umask);
    }
}
