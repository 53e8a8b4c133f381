//! The container's PID namespace. As under runc, the container's first
//! process (started by `start`) is PID 1 of a PID namespace of its own,
//! and every later process (`exec`) joins it; when that init exits, the
//! kernel ends the rest. The agent stays outside, as PID 1 of the VM, and
//! sees every container process under its own pid (what `ps` lists and
//! `kill` signals).
//!
//! A process enters a PID namespace only when it is forked, the one of the
//! forking thread's `pid_ns_for_children`: each spawn into the container
//! runs on a thread of its own that first unshares a new namespace (the
//! init) or joins the container's (exec), and then forks.
//!
//! /proc shows the PID namespace of whoever mounted it, and the agent
//! mounted the container's when it created the container. So the init,
//! PID 1 of the new namespace, mounts a fresh proc on each of the
//! container's proc mounts (the agent's detached) before it execs, and
//! masks and makes read-only the paths under them again
//! (`linux.maskedPaths`, `linux.readonlyPaths`): [`ProcRemount`], system
//! calls on strings prepared before the fork.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use super::mounts::{self, Mount, What};
use super::resolve;
use super::sys::{is_dir, mount};

/// The container's proc mounts as its init makes them again.
#[derive(Debug)]
pub struct ProcRemount {
    /// Each proc mount's destination, with its flags and data (hidepid=,
    /// subset=, ...).
    mounts: Vec<(CString, libc::c_ulong, Option<CString>)>,
    /// Masked paths under them: a file gets /dev/null bound on it.
    masked: Vec<CString>,
    /// Read-only paths under them.
    readonly: Vec<CString>,
    /// /dev/null as the container's setup thread opened it (a mount of the
    /// container's namespace, which a bind needs), and the path the init
    /// reaches it by, through the fresh proc (the container may have no
    /// /dev/null of its own).
    _null: OwnedFd,
    null_path: CString,
}

impl ProcRemount {
    /// The remount of the proc mounts among `mounts`, with the `masked` and
    /// `readonly` paths under them; None if the container mounts no proc.
    /// Runs in the container's mount namespace.
    pub fn new(
        mounts: &[Mount],
        masked: &[PathBuf],
        readonly: &[PathBuf],
    ) -> Result<Option<Self>, Errno> {
        let procs: Vec<&Mount> = mounts
            .iter()
            .filter(|m| matches!(m.what, What::Fs { fstype: "proc", .. }))
            .collect();
        let Some(first) = procs.first() else {
            return Ok(None);
        };
        let under_proc = |paths: &[PathBuf]| -> Result<Vec<CString>, Errno> {
            paths
                .iter()
                .filter(|path| procs.iter().any(|m| path.starts_with(&m.destination)))
                .map(|path| resolve::cstring(path))
                .collect()
        };
        let null = mounts::open_path(Path::new("/dev/null"))?;
        let null_path = first
            .destination
            .join(format!("self/fd/{}", null.as_raw_fd()));
        Ok(Some(Self {
            mounts: procs
                .iter()
                .map(|m| {
                    let data = (!m.options.data.is_empty())
                        .then(|| CString::new(m.options.data.as_bytes()).map_err(|_| Errno::EINVAL))
                        .transpose()?;
                    Ok((
                        resolve::cstring(&m.destination)?,
                        m.options.flags.bits(),
                        data,
                    ))
                })
                .collect::<Result<_, Errno>>()?,
            masked: under_proc(masked)?,
            readonly: under_proc(readonly)?,
            _null: null,
            null_path: resolve::cstring(&null_path)?,
        }))
    }

    /// In the container's init, between fork and exec (in the container's
    /// mount namespace and root): only system calls, on what `new`
    /// prepared. Returns the errno of a failure.
    pub fn apply(&self) -> Result<(), i32> {
        for (destination, flags, data) in &self.mounts {
            // The agent's proc and what is mounted on it; a destination
            // that is no mount (a symlink the image put there) is left.
            // SAFETY: umount2 reads the NUL-terminated path.
            unsafe {
                libc::umount2(
                    destination.as_ptr(),
                    libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
                )
            };
            let data = data.as_deref();
            mount(Some(c"proc"), destination, Some(c"proc"), *flags, data)?;
        }
        let protected = self.protect();
        if protected.is_err() {
            // Fail closed: no /proc at all rather than an unmasked one.
            for (destination, _, _) in &self.mounts {
                // SAFETY: umount2 reads the NUL-terminated path.
                unsafe { libc::umount2(destination.as_ptr(), libc::MNT_DETACH) };
            }
        }
        protected
    }

    /// The masked and read-only paths, on the fresh proc.
    fn protect(&self) -> Result<(), i32> {
        let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        for path in &self.masked {
            match is_dir(path)? {
                None => {}
                Some(true) => {
                    let flags = (MsFlags::MS_RDONLY | locked).bits();
                    mount(Some(c"tmpfs"), path, Some(c"tmpfs"), flags, None)?;
                }
                Some(false) => {
                    let bind = MsFlags::MS_BIND.bits();
                    mount(Some(&self.null_path), path, None, bind, None)?;
                }
            }
        }
        for path in &self.readonly {
            if is_dir(path)?.is_some() {
                let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some(path), path, None, bind.bits(), None)?;
                let read_only =
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked;
                mount(None, path, None, read_only.bits(), None)?;
            }
        }
        Ok(())
    }
}

/// Where the container's processes get their PID namespace: not yet
/// (None), the init's (Some(Some)), or none any more (Some(None): the init
/// could not be started).
#[derive(Debug, Default)]
pub struct PidNamespace(Mutex<Option<Option<OwnedFd>>>);

/// What a spawn into the container does with its PID namespace.
pub enum Entry<'a> {
    /// The container's own process: a new namespace, of which it is PID 1.
    Create,
    /// Any process once that one runs: the container's namespace.
    Join(&'a OwnedFd),
    /// A process before it (a createContainer or startContainer hook): the
    /// agent's namespace, as there is no other yet.
    Outside,
}

/// Held while a process is spawned into the container, so that the init
/// is recorded before anything joins its namespace.
pub struct Spawning<'a>(MutexGuard<'a, Option<Option<OwnedFd>>>);

/// Why a process could not enter the container's PID namespace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the container's process is gone: no PID namespace to join")]
    Gone,
    #[error("entering the container's PID namespace: {}", super::describe(*.0))]
    Enter(Errno),
}

impl PidNamespace {
    /// Starts a spawn into the container.
    pub fn spawning(&self) -> Spawning<'_> {
        Spawning(self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Spawning<'_> {
    /// What this spawn does: create the namespace (the container's own
    /// process, `is_init`), join it, or stay outside.
    pub fn entry(&self, is_init: bool) -> Result<Entry<'_>, Error> {
        match &*self.0 {
            None if is_init => Ok(Entry::Create),
            None => Ok(Entry::Outside),
            Some(Some(namespace)) => Ok(Entry::Join(namespace)),
            Some(None) => Err(Error::Gone),
        }
    }

    /// Records how the init's spawn went: the namespace it runs in, or
    /// None if it could not be started (or has already exited), after
    /// which nothing may run in the container outside the namespace it
    /// should have had.
    pub fn record(mut self, namespace: Option<OwnedFd>) {
        *self.0 = Some(namespace);
    }
}

/// On the thread that is about to fork the process: makes its children
/// enter the namespace `entry` says.
pub fn enter(entry: &Entry) -> Result<(), Error> {
    match entry {
        Entry::Create => nix::sched::unshare(CloneFlags::CLONE_NEWPID),
        Entry::Join(namespace) => nix::sched::setns(namespace, CloneFlags::CLONE_NEWPID),
        Entry::Outside => Ok(()),
    }
    .map_err(Error::Enter)
}

/// On the thread that forked the init: the namespace its children enter,
/// the init's (by thread, not by pid, which may be reused once the init is
/// reaped). The kernel shows it only once the init exists, and no more
/// once it has exited: None then.
pub fn created() -> Option<OwnedFd> {
    // std opens close-on-exec; setns needs more than O_PATH.
    let namespace = std::fs::File::open("/proc/thread-self/ns/pid_for_children").ok()?;
    Some(namespace.into())
}

/// A fork into a namespace whose init has exited fails with ENOMEM: say
/// what it means.
pub fn spawn_error(entry: &Entry, error: std::io::Error) -> Result<std::io::Error, Error> {
    match entry {
        Entry::Join(_) if error.raw_os_error() == Some(libc::ENOMEM) => Err(Error::Gone),
        _ => Ok(error),
    }
}
