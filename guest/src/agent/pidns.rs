//! The namespaces the container's init makes (PID, cgroup) and its /proc.
//! As under runc, with `pid` in the spec the container's first
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
//! mounted the container's when it created the container (so that errors
//! fail `create` and createContainer hooks see the container's mounts).
//! So the init, PID 1 of the new namespace, makes again every mount from
//! the first proc mount on, in the spec's order, before it execs: it
//! makes a fresh proc for each proc mount and a clone of every other
//! mount (same filesystem, contents and options), detaches the old ones,
//! attaches the new ones (their propagation set then), and masks and
//! makes read-only the paths of `linux.maskedPaths` and
//! `linux.readonlyPaths` again. The
//! container's /proc/self/mountinfo then lists the spec's mounts in the
//! spec's order, as under runc, and a bind over a /proc file (lxcfs)
//! stays. [`ProcRemount`]: system calls on what the setup prepared.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use super::mounts::{self, Mount, What};
use super::sys::{check, is_dir, mount};

// linux/mount.h, which libc does not carry yet.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// What the init mounts again in its PID namespace: every mount the setup
/// made from the first proc mount on, in their order.
#[derive(Debug, Default)]
pub struct ProcRemount {
    steps: Vec<Again>,
    /// /dev/null as the setup opened it (a mount of the container's
    /// namespace, which a bind needs), and the path the init reaches it by
    /// through the first proc (the container may have no /dev/null).
    null: Option<(OwnedFd, CString)>,
}

/// One mount made again, at its path in the container. The new mounts of
/// proc and the clones are made first, in order, then attached once the
/// old ones are gone: mountinfo lists mounts in the order they were made
/// (newer kernels) or attached (6.1), and either way it is the spec's.
#[derive(Debug)]
enum Again {
    /// A proc mount: a fresh one, with its options (hidepid=, ...),
    /// attributes (nosuid, ...) and propagation.
    Proc {
        target: CString,
        options: Vec<(CString, Option<CString>)>,
        attributes: u64,
        propagation: Vec<libc::c_ulong>,
        /// The fresh proc, made by the init.
        made: AtomicI32,
    },
    /// Any other mount of the spec: a clone of it (same filesystem,
    /// contents and flags), then its propagation.
    Clone {
        target: CString,
        /// The mount as the setup made it (O_PATH on its root).
        mounted: OwnedFd,
        propagation: Vec<libc::c_ulong>,
        /// The clone, made by the init.
        made: AtomicI32,
    },
    /// A masked path: an empty read-only tmpfs on a directory, /dev/null
    /// on anything else.
    Mask { target: CString },
    /// A read-only path: a bind of itself, remounted with `flags`.
    ReadOnly {
        target: CString,
        flags: libc::c_ulong,
    },
}

impl Again {
    fn target(&self) -> &CStr {
        match self {
            Again::Proc { target, .. }
            | Again::Clone { target, .. }
            | Again::Mask { target }
            | Again::ReadOnly { target, .. } => target,
        }
    }
}

/// mount(2) flags as mount attributes, for fsmount(2).
fn attributes(flags: MsFlags) -> u64 {
    [
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
        (MsFlags::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .fold(0, |attributes, (_, attribute)| attributes | attribute)
}

/// A syscall's return value as a new descriptor, or its errno.
fn new_fd(rc: libc::c_long) -> Result<i32, i32> {
    if rc < 0 {
        Err(Errno::last_raw())
    } else {
        i32::try_from(rc).map_err(|_| libc::EBADF)
    }
}

impl ProcRemount {
    /// Whether `mount` is made again: from the first proc mount on. Its
    /// propagation is then the init's to set (an unbindable mount could
    /// not be cloned).
    pub fn makes_again(&self, mount: &Mount) -> bool {
        self.null.is_some() || is_proc(mount)
    }

    /// Records `mount`, mounted at `target` (a container path) and open
    /// at `mounted`, if it is made again.
    pub fn record_mount(
        &mut self,
        mount: &Mount,
        mounted: OwnedFd,
        target: CString,
    ) -> Result<(), Errno> {
        if !self.makes_again(mount) {
            return Ok(());
        }
        let propagation = mount.options.propagation.iter().map(|f| f.bits()).collect();
        let made = AtomicI32::new(-1);
        if is_proc(mount) {
            if self.null.is_none() {
                let null = mounts::open_path(Path::new("/dev/null"))?;
                let mut path = target.as_bytes().to_vec();
                path.extend_from_slice(format!("/self/fd/{}", null.as_raw_fd()).as_bytes());
                self.null = Some((null, CString::new(path).map_err(|_| Errno::EINVAL)?));
            }
            let cstring = |text: &str| CString::new(text).map_err(|_| Errno::EINVAL);
            // The spec's source names the mount in mountinfo, as mount(2)'s
            // would.
            let source = match &mount.what {
                What::Fs { source, .. } => Some((c"source".to_owned(), Some(cstring(source)?))),
                What::Bind(_) => None,
            };
            let options = source
                .into_iter()
                .map(Ok)
                .chain(
                    mount
                        .options
                        .data
                        .split(',')
                        .filter(|option| !option.is_empty())
                        .map(|option| match option.split_once('=') {
                            Some((key, value)) => Ok((cstring(key)?, Some(cstring(value)?))),
                            None => Ok((cstring(option)?, None)),
                        }),
                )
                .collect::<Result<_, Errno>>()?;
            self.steps.push(Again::Proc {
                target,
                options,
                attributes: attributes(mount.options.flags),
                propagation,
                made,
            });
        } else {
            self.steps.push(Again::Clone {
                target,
                mounted,
                propagation,
                made,
            });
        }
        Ok(())
    }

    /// Records a masked path at `target`, if the mounts are made again.
    pub fn record_mask(&mut self, target: CString) {
        if self.null.is_some() {
            self.steps.push(Again::Mask { target });
        }
    }

    /// Records a read-only path at `target`, remounted with `flags`.
    pub fn record_read_only(&mut self, target: CString, flags: MsFlags) {
        if self.null.is_some() {
            self.steps.push(Again::ReadOnly {
                target,
                flags: flags.bits(),
            });
        }
    }

    /// Whether there is anything to make again.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// In the container's init, between fork and exec (in the container's
    /// mount namespace and root, PID 1 of its PID namespace): makes the
    /// new mounts, detaches the recorded ones, last first, and attaches
    /// the new ones in order. Only system calls, on what the setup
    /// prepared. Returns the errno of a failure.
    pub fn apply(&self) -> Result<(), i32> {
        for step in &self.steps {
            match step {
                Again::Proc {
                    options,
                    attributes,
                    made,
                    ..
                } => made.store(fresh_proc(options, *attributes)?, Ordering::Relaxed),
                Again::Clone { mounted, made, .. } => {
                    // SAFETY: the path is a static empty string; open_tree
                    // returns a new descriptor or -1.
                    let clone = unsafe {
                        libc::syscall(
                            libc::SYS_open_tree,
                            mounted.as_raw_fd(),
                            c"".as_ptr(),
                            OPEN_TREE_CLONE
                                | libc::O_CLOEXEC.unsigned_abs()
                                | libc::AT_EMPTY_PATH.unsigned_abs(),
                        )
                    };
                    made.store(new_fd(clone)?, Ordering::Relaxed);
                }
                Again::Mask { .. } | Again::ReadOnly { .. } => {}
            }
        }
        for step in self.steps.iter().rev() {
            // SAFETY: umount2 reads the NUL-terminated path.
            check(unsafe {
                libc::umount2(
                    step.target().as_ptr(),
                    libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW,
                )
            })?;
        }
        let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        for step in &self.steps {
            match step {
                Again::Proc {
                    target,
                    propagation,
                    made,
                    ..
                }
                | Again::Clone {
                    target,
                    propagation,
                    made,
                    ..
                } => {
                    // SAFETY: move_mount reads the NUL-terminated paths; the
                    // descriptor is the new mount made above.
                    check(unsafe {
                        libc::syscall(
                            libc::SYS_move_mount,
                            made.load(Ordering::Relaxed),
                            c"".as_ptr(),
                            libc::AT_FDCWD,
                            target.as_ptr(),
                            MOVE_MOUNT_F_EMPTY_PATH,
                        )
                    } as i32)?;
                    for flags in propagation {
                        mount(None, target, None, *flags, None)?;
                    }
                }
                Again::Mask { target } => match is_dir(target)? {
                    None => {}
                    Some(true) => {
                        let flags = (MsFlags::MS_RDONLY | locked).bits();
                        mount(Some(c"tmpfs"), target, Some(c"tmpfs"), flags, None)?;
                    }
                    Some(false) => {
                        let null = self.null.as_ref().map(|(_, path)| path.as_c_str());
                        mount(null, target, None, MsFlags::MS_BIND.bits(), None)?;
                    }
                },
                Again::ReadOnly { target, flags } => {
                    let bind = (MsFlags::MS_BIND | MsFlags::MS_REC).bits();
                    mount(Some(target), target, None, bind, None)?;
                    mount(None, target, None, *flags, None)?;
                }
            }
        }
        Ok(())
    }
}

/// A new, detached proc of the calling process's PID namespace, with
/// `options` and the mount `attributes`.
fn fresh_proc(options: &[(CString, Option<CString>)], attributes: u64) -> Result<i32, i32> {
    // SAFETY: fsopen reads the NUL-terminated name, a static string.
    let context =
        new_fd(unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) })?;
    let configured = (|| {
        for (key, value) in options {
            let (command, value) = match value {
                Some(value) => (FSCONFIG_SET_STRING, value.as_ptr()),
                None => (FSCONFIG_SET_FLAG, std::ptr::null()),
            };
            // SAFETY: fsconfig reads the NUL-terminated key and value (or
            // takes null), alive for the call.
            new_fd(unsafe {
                libc::syscall(libc::SYS_fsconfig, context, command, key.as_ptr(), value, 0)
            })?;
        }
        // SAFETY: a plain system call on the descriptor fsopen returned.
        new_fd(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context,
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        })?;
        // SAFETY: a plain system call on the descriptor fsopen returned.
        new_fd(unsafe { libc::syscall(libc::SYS_fsmount, context, FSMOUNT_CLOEXEC, attributes) })
    })();
    // SAFETY: closes the descriptor fsopen returned, used by nothing else.
    unsafe { libc::close(context) };
    configured
}

fn is_proc(mount: &Mount) -> bool {
    matches!(mount.what, What::Fs { fstype: "proc", .. })
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
