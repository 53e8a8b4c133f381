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

/// The namespaces the container's init made when it started: its PID
/// namespace (None when the spec asks for none: the guest's), and its
/// cgroup namespace (None likewise).
#[derive(Debug)]
pub struct Made {
    pid: Option<OwnedFd>,
    cgroup: Option<OwnedFd>,
}

/// Where the container's processes get their init's namespaces: not yet
/// (None), the init's (Some(Some)), or none any more (Some(None): the init
/// could not be started).
#[derive(Debug, Default)]
pub struct InitNamespaces(Mutex<Option<Option<Made>>>);

/// What a spawn into the container does with the init's namespaces.
pub enum Entry<'a> {
    /// The container's own process: PID 1 of a new PID namespace when the
    /// spec asks for one (`pid`).
    Create { pid: bool },
    /// Any process once that one runs: the init's namespaces.
    Join(&'a Made),
    /// A process before it (a createContainer or startContainer hook): the
    /// agent's namespaces, as there are no others yet.
    Outside,
}

/// Held while a process is spawned into the container, so that the init
/// is recorded before anything joins its namespaces.
pub struct Spawning<'a>(MutexGuard<'a, Option<Option<Made>>>);

/// Why a process could not enter the container's PID namespace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the container's process is gone: no PID namespace to join")]
    Gone,
    #[error("entering the container's PID namespace: {}", super::describe(*.0))]
    Enter(Errno),
}

impl InitNamespaces {
    /// Starts a spawn into the container.
    pub fn spawning(&self) -> Spawning<'_> {
        Spawning(self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Spawning<'_> {
    /// What this spawn does: create the namespaces (the container's own
    /// process, `is_init`; a PID namespace if `new_pid`), join them, or
    /// stay outside.
    pub fn entry(&self, is_init: bool, new_pid: bool) -> Result<Entry<'_>, Error> {
        match &*self.0 {
            None if is_init => Ok(Entry::Create { pid: new_pid }),
            None => Ok(Entry::Outside),
            Some(Some(made)) => Ok(Entry::Join(made)),
            Some(None) => Err(Error::Gone),
        }
    }

    /// Records how the init's spawn went: the namespaces it runs in, or
    /// None if it could not be started (or has already exited), after
    /// which nothing may run in the container outside the namespaces it
    /// should have had.
    pub fn record(mut self, made: Option<Made>) {
        *self.0 = Some(made);
    }
}

/// On the thread that is about to fork the process: makes its children
/// enter the namespaces `entry` says.
pub fn enter(entry: &Entry) -> Result<(), Error> {
    match entry {
        Entry::Create { pid: true } => nix::sched::unshare(CloneFlags::CLONE_NEWPID),
        Entry::Join(made) => made
            .pid
            .as_ref()
            .map_or(Ok(()), |pid| {
                nix::sched::setns(pid, CloneFlags::CLONE_NEWPID)
            })
            .and_then(|()| {
                made.cgroup.as_ref().map_or(Ok(()), |cgroup| {
                    nix::sched::setns(cgroup, CloneFlags::CLONE_NEWCGROUP)
                })
            }),
        Entry::Create { pid: false } | Entry::Outside => Ok(()),
    }
    .map_err(Error::Enter)
}

/// On the thread that forked the init (`pid`), once it runs its program:
/// the namespaces it made. The PID namespace is the one this thread's
/// children enter (by thread, not by pid, which may be reused once the
/// init is reaped); the kernel shows it only once the init exists, and no
/// more once it has exited: None then. The cgroup namespace is the init's
/// own (`cgroup`), which it made after joining the container's cgroup.
pub fn created(pid: i32, new_pid: bool, new_cgroup: bool) -> Option<Made> {
    // std opens close-on-exec; setns needs more than O_PATH.
    let open = |path: &str| std::fs::File::open(path).ok().map(OwnedFd::from);
    let pid_namespace = if new_pid {
        Some(open("/proc/thread-self/ns/pid_for_children")?)
    } else {
        None
    };
    let cgroup = if new_cgroup {
        Some(open(&format!("/proc/{pid}/ns/cgroup"))?)
    } else {
        None
    };
    Some(Made {
        pid: pid_namespace,
        cgroup,
    })
}

/// A fork into a namespace whose init has exited fails with ENOMEM: say
/// what it means.
pub fn spawn_error(entry: &Entry, error: std::io::Error) -> Result<std::io::Error, Error> {
    match entry {
        Entry::Join(_) if error.raw_os_error() == Some(libc::ENOMEM) => Err(Error::Gone),
        _ => Ok(error),
    }
}
