//! `CreateContainer`: the container's root filesystem and mounts, built
//! from its OCI spec in a mount namespace of its own.
//!
//! On a thread of its own (unshare(CLONE_NEWNS) makes that thread's mount
//! namespace, root and cwd private to it), the setup:
//!
//! 1. makes every mount of the new namespace private, so nothing
//!    propagates back to the agent's;
//! 2. mounts the share (virtio-fs tag [`proto::agent::SHARE_TAG`]) on
//!    [`SHARE_DIR`] and rbind-mounts its `root.path` on [`ROOT_DIR`];
//! 3. mounts the spec's mounts in order, their destinations resolved
//!    inside the root (see `resolve`), creating missing mount points; a
//!    tmpfs on /dev gets the default OCI device nodes and symlinks;
//! 4. creates `linux.devices` and a missing `process.cwd`, masks
//!    `linux.maskedPaths`, makes `linux.readonlyPaths` and, with
//!    `root.readonly`, the root read-only, and applies
//!    `linux.rootfsPropagation`;
//! 5. moves the root on top of `/` (pivot_root cannot leave the
//!    initramfs), so whoever enters the namespace lands in the container
//!    root and `..` cannot climb out of it.
//!
//! The namespace outlives the thread through [`Container`]'s descriptor:
//! processes enter it with setns, which also puts their root there. Then
//! the agent sets the hostname, domain name and `linux.sysctl`, which are
//! the VM's own. A failed setup leaves no mount behind: its namespace dies
//! with the thread.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::thread;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDeviceType, LinuxNamespaceType, Spec};

use super::cgroup::Cgroup;

use super::describe;
use super::mounts::{self, Mount, MountError};
use super::pidns::{InitNamespaces, ProcRemount};
use super::resolve::{self, Kind};
use super::seccomp;
use super::userns;

/// Where the share is mounted, in the container's mount namespace.
pub const SHARE_DIR: &str = "/run/runvm/share";
/// Where the container root is prepared before it moves onto `/`.
pub const ROOT_DIR: &str = "/run/runvm/root";

/// Why the container could not be created.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the container is already created")]
    Exists,
    #[error("root.path is missing")]
    NoRoot,
    #[error("root.path {0} must be relative to the share")]
    RootPath(PathBuf),
    #[error("mount {}: {error}", .destination.display())]
    Mount {
        destination: PathBuf,
        error: MountError,
    },
    #[error("{field} {}: {problem}", .path.display())]
    Path {
        field: &'static str,
        path: PathBuf,
        problem: &'static str,
    },
    #[error("{field} {}: {}", .path.display(), describe(*.errno))]
    Apply {
        field: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{0} is longer than 64 bytes or contains a NUL byte")]
    Name(&'static str),
    #[error("linux.rootfsPropagation {0} is not valid")]
    Propagation(String),
    #[error("linux.sysctl {0:?} is not a valid key or value")]
    SysctlKey(String),
    #[error("linux.sysctl {key}: {}", describe(*.errno))]
    Sysctl { key: String, errno: Errno },
    #[error("{step}: {}", describe(*.errno))]
    Setup { step: &'static str, errno: Errno },
    #[error("linux.namespaces: the {typ} namespace at {} cannot be joined in the guest: the path names a namespace of the host", .path.display())]
    NamespacePath {
        typ: LinuxNamespaceType,
        path: PathBuf,
    },
    #[error("linux.namespaces: {0} namespaces are not supported")]
    UnsupportedNamespace(LinuxNamespaceType),
    #[error("linux.namespaces: a user namespace needs linux.uidMappings and linux.gidMappings")]
    NoMappings,
    #[error(transparent)]
    Seccomp(#[from] seccomp::Error),
}

/// A created container: its mount namespace and its root, as the agent
/// sees it.
#[derive(Debug)]
pub struct Container {
    namespace: OwnedFd,
    /// The container's UTS and IPC namespaces, when the spec asks for new
    /// ones (None: the guest's, inherited).
    uts: Option<OwnedFd>,
    ipc: Option<OwnedFd>,
    /// The container's user namespace, with its maps, if it has one.
    user: Option<OwnedFd>,
    /// The namespaces the container's init makes when it starts.
    init_namespaces: Namespaces,
    root: OwnedFd,
    cgroup: Option<Cgroup>,
    /// `linux.seccomp`, compiled; None: no filter.
    seccomp: Option<seccomp::Filters>,
    /// What the init does to the container's /proc in its PID namespace.
    proc_remount: Option<ProcRemount>,
    /// The namespaces of the container's init, which later processes join.
    made_by_init: InitNamespaces,
}

impl Container {
    /// The mount namespace processes enter (setns).
    pub fn namespace(&self) -> BorrowedFd<'_> {
        self.namespace.as_fd()
    }

    /// The container's UTS namespace, if it has one of its own.
    pub fn uts(&self) -> Option<BorrowedFd<'_>> {
        self.uts.as_ref().map(AsFd::as_fd)
    }

    /// The container's IPC namespace, if it has one of its own.
    pub fn ipc(&self) -> Option<BorrowedFd<'_>> {
        self.ipc.as_ref().map(AsFd::as_fd)
    }

    /// The container's user namespace, if it has one of its own.
    pub fn user(&self) -> Option<BorrowedFd<'_>> {
        self.user.as_ref().map(AsFd::as_fd)
    }

    /// Which namespaces the container's init makes: PID and cgroup.
    pub fn init_namespaces(&self) -> Namespaces {
        self.init_namespaces
    }

    /// The container root (O_PATH), for resolving container paths.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// Puts the container's processes into `cgroup` from now on.
    pub fn with_cgroup(mut self, cgroup: Cgroup) -> Self {
        self.cgroup = Some(cgroup);
        self
    }

    /// The cgroup the container's processes join, if it has one.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        self.cgroup.as_ref()
    }

    /// How the init remounts the container's /proc, if it has one.
    pub fn proc_remount(&self) -> Option<&ProcRemount> {
        self.proc_remount.as_ref()
    }

    /// The namespaces of the container's init, for the processes after it.
    pub fn made_by_init(&self) -> &InitNamespaces {
        &self.made_by_init
    }

    /// The seccomp filters the container's processes run under, if any.
    pub fn seccomp(&self) -> Option<&seccomp::Filters> {
        self.seccomp.as_ref()
    }
}

/// The first container's namespaces a pod member joins instead of having
/// its own (None: it has none of its own, the member keeps the guest's).
#[derive(Debug, Default)]
pub struct Joined {
    pub uts: Option<OwnedFd>,
    pub ipc: Option<OwnedFd>,
}

impl Container {
    /// The namespaces of this container that a pod member sharing
    /// `shared` joins.
    pub fn shared(&self, shared: proto::agent::SharedNamespaces) -> Result<Joined, Error> {
        let dup = |wanted: bool, fd: Option<BorrowedFd>| {
            fd.filter(|_| wanted)
                .map(|fd| fd.try_clone_to_owned())
                .transpose()
                .map_err(|error| Error::Setup {
                    step: "duplicating the first container's namespaces",
                    errno: super::errno_of(&error),
                })
        };
        Ok(Joined {
            uts: dup(shared.uts, self.uts())?,
            ipc: dup(shared.ipc, self.ipc())?,
        })
    }
}

/// Creates the container in the guest: the share comes from virtio-fs. A
/// pod member joins the first container's namespaces in `joined`.
pub fn create(spec: &Spec, joined: Joined) -> Result<Container, Error> {
    let layout = Layout {
        share: SHARE_DIR.into(),
        root: ROOT_DIR.into(),
    };
    create_with(
        spec,
        layout,
        joined,
        Box::new(|dir: &Path| {
            // No nosuid or nodev: the root filesystem is the share's, and its
            // setuid programs must work as under runc.
            let tag = proto::agent::SHARE_TAG;
            let flags = MsFlags::empty();
            nix::mount::mount(Some(tag), dir, Some("virtiofs"), flags, None::<&str>)?;
            if let Err(errno) = widen_readahead(dir) {
                eprintln!("runvm-init: share readahead left at the default: {errno}");
            }
            Ok(())
        }),
    )
}

/// The share's readahead: the largest request its device takes (256 pages,
/// fuse-backend-rs's `MAX_REQ_PAGES`) instead of the kernel's 128 KiB, so
/// a sequential read makes an eighth of the round trips to the host.
const SHARE_READAHEAD_KIB: u32 = 1024;

/// Raises the readahead of the virtio-fs mount on `dir` to
/// [`SHARE_READAHEAD_KIB`]. The FUSE INIT reply lowers it to what the
/// server answers, so this waits for that reply first: STATFS is a request
/// the guest kernel only sends once INIT is done.
fn widen_readahead(dir: &Path) -> Result<(), Errno> {
    nix::sys::statfs::statfs(dir)?;
    let dev = nix::sys::stat::stat(dir)?.st_dev;
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let knob = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    fs::write(knob, SHARE_READAHEAD_KIB.to_string()).map_err(|error| super::errno_of(&error))
}

/// Where the setup mounts the share and prepares the root.
pub struct Layout {
    pub share: PathBuf,
    pub root: PathBuf,
}

/// Mounts the share on the directory it is given.
pub type MountShare = Box<dyn FnOnce(&Path) -> Result<(), Errno> + Send>;

/// Validates `spec`, then builds the container with the share mounted by
/// `mount_share`.
pub fn create_with(
    spec: &Spec,
    layout: Layout,
    joined: Joined,
    mount_share: MountShare,
) -> Result<Container, Error> {
    let plan = Plan::new(spec)?;
    let user = plan
        .user_maps
        .as_ref()
        .map(|(uids, gids)| userns::create(uids, gids))
        .transpose()
        .map_err(|errno| Error::Setup {
            step: "making the user namespace",
            errno,
        })?;
    let container = thread::scope(|scope| {
        let setup = thread::Builder::new()
            .name("container-setup".into())
            .spawn_scoped(scope, || plan.build(&layout, joined, mount_share))
            .map_err(|error| Error::Setup {
                step: "starting the setup thread",
                errno: super::errno_of(&error),
            })?;
        setup
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    Ok(Container { user, ..container })
}

/// A device node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Device {
    path: PathBuf,
    kind: SFlag,
    rdev: libc::dev_t,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
}

/// The default OCI devices on a tmpfs /dev: name, major, minor.
const DEFAULT_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The default /dev symlinks: name, target.
const DEFAULT_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// The validated spec: everything checked before anything is mounted.
#[derive(Debug)]
struct Plan {
    rootfs: PathBuf,
    readonly: bool,
    mounts: Vec<Mount>,
    devices: Vec<Device>,
    masked: Vec<PathBuf>,
    readonly_paths: Vec<PathBuf>,
    /// `process.cwd`, created if missing as runc does.
    cwd: Option<PathBuf>,
    propagation: Option<MsFlags>,
    hostname: Option<String>,
    domainname: Option<String>,
    sysctl: Vec<(String, String)>,
    seccomp: Option<seccomp::Filters>,
    namespaces: Namespaces,
    /// The uid and gid maps of the container's user namespace, if it asks
    /// for one.
    user_maps: Option<(String, String)>,
}

/// The namespaces of `linux.namespaces` the guest makes for the container,
/// besides its mount namespace (always a new one: the guest's own root is
/// its initramfs). A type the spec leaves out is the guest's, inherited,
/// as under runc. The network namespace is always the guest's initial
/// one: the VM's network is the container's, and the spec's network
/// namespace is realised on the host (the monitor lives in it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub uts: bool,
    pub ipc: bool,
    pub pid: bool,
    pub cgroup: bool,
    pub user: bool,
}

impl Namespaces {
    fn of(linux: Option<&oci_spec::runtime::Linux>) -> Result<Self, Error> {
        let mut wanted = Namespaces::default();
        for namespace in linux
            .and_then(|linux| linux.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            let typ = namespace.typ();
            if typ == LinuxNamespaceType::Network {
                continue;
            }
            // Never ignored: the host refuses these paths first, this says
            // so again should one get here.
            if let Some(path) = namespace.path() {
                return Err(Error::NamespacePath {
                    typ,
                    path: path.clone(),
                });
            }
            match typ {
                LinuxNamespaceType::Mount | LinuxNamespaceType::Network => {}
                LinuxNamespaceType::Uts => wanted.uts = true,
                LinuxNamespaceType::Ipc => wanted.ipc = true,
                LinuxNamespaceType::Pid => wanted.pid = true,
                LinuxNamespaceType::Cgroup => wanted.cgroup = true,
                LinuxNamespaceType::User => wanted.user = true,
                LinuxNamespaceType::Time => return Err(Error::UnsupportedNamespace(typ)),
            }
        }
        Ok(wanted)
    }

    /// The flags for unshare(2) of the namespaces made at create.
    fn at_create(self) -> CloneFlags {
        let mut flags = CloneFlags::CLONE_NEWNS;
        flags.set(CloneFlags::CLONE_NEWUTS, self.uts);
        flags.set(CloneFlags::CLONE_NEWIPC, self.ipc);
        flags
    }
}

impl Plan {
    fn new(spec: &Spec) -> Result<Self, Error> {
        let root = spec.root().as_ref().ok_or(Error::NoRoot)?;
        let rootfs = root.path().clone();
        if rootfs.as_os_str().is_empty()
            || rootfs.is_absolute()
            || resolve::cstring(&rootfs).is_err()
        {
            return Err(Error::RootPath(rootfs));
        }
        let mut mounts = Vec::new();
        for mount in spec.mounts().iter().flatten() {
            mounts.push(Mount::new(mount).map_err(|error| Error::Mount {
                destination: mount.destination().clone(),
                error,
            })?);
        }
        let cwd = spec
            .process()
            .as_ref()
            .map(|process| process.cwd().clone())
            .filter(|cwd| cwd.is_absolute());
        if cwd
            .as_deref()
            .is_some_and(|cwd| resolve::cstring(cwd).is_err())
        {
            return Err(Error::Path {
                field: "process.cwd",
                path: cwd.unwrap_or_default(),
                problem: "contains a NUL byte",
            });
        }
        let hostname = name("hostname", spec.hostname())?;
        let domainname = name("domainname", spec.domainname())?;

        let linux = spec.linux().as_ref();
        let mut devices = Vec::new();
        for device in linux
            .and_then(|linux| linux.devices().as_ref())
            .into_iter()
            .flatten()
        {
            devices.push(device_of(device)?);
        }
        let paths = |field: &'static str, list: Option<&Vec<String>>| {
            list.into_iter()
                .flatten()
                .map(|path| {
                    let path = PathBuf::from(path);
                    if resolve::cstring(&path).is_err() || path.as_os_str().is_empty() {
                        return Err(Error::Path {
                            field,
                            path,
                            problem: "is empty or contains a NUL byte",
                        });
                    }
                    Ok(path)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let masked = paths(
            "linux.maskedPaths",
            linux.and_then(|linux| linux.masked_paths().as_ref()),
        )?;
        let readonly_paths = paths(
            "linux.readonlyPaths",
            linux.and_then(|linux| linux.readonly_paths().as_ref()),
        )?;
        let propagation = linux
            .and_then(|linux| linux.rootfs_propagation().as_ref())
            .filter(|name| !name.is_empty())
            .map(|name| mounts::propagation(name).ok_or_else(|| Error::Propagation(name.clone())))
            .transpose()?;
        let mut sysctl: Vec<(String, String)> = linux
            .and_then(|linux| linux.sysctl().clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        sysctl.sort();
        for (key, value) in &sysctl {
            let valid = !key.contains('\0')
                && !value.contains('\0')
                && key
                    .replace('.', "/")
                    .split('/')
                    .all(|part| !part.is_empty() && part != "..");
            if !valid {
                return Err(Error::SysctlKey(key.clone()));
            }
        }
        let namespaces = Namespaces::of(linux)?;
        let user_maps = if namespaces.user {
            let maps = linux
                .and_then(|linux| {
                    linux
                        .uid_mappings()
                        .as_ref()
                        .zip(linux.gid_mappings().as_ref())
                })
                .filter(|(uids, gids)| !uids.is_empty() && !gids.is_empty())
                .ok_or(Error::NoMappings)?;
            Some((userns::map_text(maps.0), userns::map_text(maps.1)))
        } else {
            None
        };
        let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            Some(profile) => seccomp::compile(profile)?,
            None => None,
        };
        Ok(Plan {
            seccomp,
            rootfs,
            readonly: root.readonly().unwrap_or(false),
            mounts,
            devices,
            masked,
            readonly_paths,
            cwd,
            propagation,
            hostname,
            domainname,
            sysctl,
            namespaces,
            user_maps,
        })
    }

    /// Builds the container; runs on its own thread, whose mount namespace
    /// becomes the container's.
    fn build(
        &self,
        layout: &Layout,
        joined: Joined,
        mount_share: MountShare,
    ) -> Result<Container, Error> {
        let at = |step| move |errno| Error::Setup { step, errno };
        // A pod member's hostname and sysctls land in what it shares.
        for (fd, kind) in [
            (&joined.uts, CloneFlags::CLONE_NEWUTS),
            (&joined.ipc, CloneFlags::CLONE_NEWIPC),
        ] {
            if let Some(fd) = fd {
                nix::sched::setns(fd, kind)
                    .map_err(at("joining the first container's namespaces"))?;
            }
        }
        nix::sched::unshare(self.namespaces.at_create()).map_err(at("unshare"))?;
        let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
        nix::mount::mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
            .map_err(at("making mounts private"))?;
        // This thread's umask is its own now (unshare implies CLONE_FS):
        // modes below are meant as given.
        nix::sys::stat::umask(Mode::empty());
        let namespace = nix::fcntl::open(
            "/proc/thread-self/ns/mnt",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(at("opening the mount namespace"))?;
        // SAFETY: open just returned this descriptor; nothing else owns it.
        let namespace = unsafe { std::os::fd::FromRawFd::from_raw_fd(namespace) };
        let own = |wanted: bool, name: &str| {
            wanted
                .then(|| fs::File::open(format!("/proc/thread-self/ns/{name}")))
                .transpose()
                .map(|file| file.map(OwnedFd::from))
                .map_err(|error| Error::Setup {
                    step: "opening the container's namespaces",
                    errno: super::errno_of(&error),
                })
        };
        let uts = own(self.namespaces.uts, "uts")?;
        let ipc = own(self.namespaces.ipc, "ipc")?;
        // In the container's UTS and IPC namespaces (this thread's), through
        // the guest's /proc before the root moves.
        self.set_system()?;

        for dir in [&layout.share, &layout.root] {
            fs::create_dir_all(dir).map_err(|error| Error::Setup {
                step: "creating the setup directories",
                errno: super::errno_of(&error),
            })?;
        }
        mount_share(&layout.share).map_err(at("mounting the share"))?;
        let share = mounts::open_path(&layout.share).map_err(at("opening the share"))?;
        let rootfs = resolve::open_in(
            share.as_fd(),
            &self.rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )
        .map_err(|errno| Error::Apply {
            field: "root.path",
            path: self.rootfs.clone(),
            errno,
        })?;
        let prepared = mounts::open_path(&layout.root).map_err(at("opening the root"))?;
        let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mounts::mount_at(Some(rootfs.as_fd()), prepared.as_fd(), None, rbind, None)
            .map_err(at("mounting the root"))?;
        let root = mounts::open_path(&layout.root).map_err(at("opening the root"))?;

        // With a PID namespace of its own, the init makes the mounts from
        // the first proc on again (see `pidns`).
        let mut again = self.namespaces.pid.then(ProcRemount::default);
        let in_container = |fd: BorrowedFd| {
            container_path(fd, &layout.root).map_err(at("finding a mount's container path"))
        };
        for mount in &self.mounts {
            let made_again = again.as_ref().is_some_and(|a| a.makes_again(mount));
            let mounted = mount
                .apply(root.as_fd(), share.as_fd(), !made_again)
                .map_err(|error| Error::Mount {
                    destination: mount.destination.clone(),
                    error,
                })?;
            if is_dev_tmpfs(mount) {
                default_dev(mounted.as_fd()).map_err(|errno| Error::Apply {
                    field: "default devices in",
                    path: mount.destination.clone(),
                    errno,
                })?;
            }
            if let Some(again) = again.as_mut().filter(|_| made_again) {
                let target = in_container(mounted.as_fd())?;
                again
                    .record_mount(mount, mounted, target)
                    .map_err(at("preparing /proc for the container's PID namespace"))?;
            }
        }
        for device in &self.devices {
            make_device(root.as_fd(), device).map_err(|errno| Error::Apply {
                field: "linux.devices",
                path: device.path.clone(),
                errno,
            })?;
        }
        if let Some(cwd) = &self.cwd {
            resolve::create_in(root.as_fd(), cwd, Kind::Dir).map_err(|errno| Error::Apply {
                field: "process.cwd",
                path: cwd.clone(),
                errno,
            })?;
        }
        for path in &self.masked {
            let masked = mask(root.as_fd(), path).map_err(|errno| Error::Apply {
                field: "linux.maskedPaths",
                path: path.clone(),
                errno,
            })?;
            if let (Some(again), Some(target)) = (again.as_mut(), masked) {
                again.record_mask(in_container(target.as_fd())?);
            }
        }
        for path in &self.readonly_paths {
            let made = read_only(root.as_fd(), path).map_err(|errno| Error::Apply {
                field: "linux.readonlyPaths",
                path: path.clone(),
                errno,
            })?;
            if let (Some(again), Some((target, flags))) = (again.as_mut(), made) {
                again.record_read_only(in_container(target.as_fd())?, flags);
            }
        }
        if self.readonly {
            mounts::remount_read_only(root.as_fd()).map_err(at("making the root read-only"))?;
        }
        if let Some(flags) = self.propagation {
            mounts::mount_at(None, root.as_fd(), None, flags, None)
                .map_err(at("linux.rootfsPropagation"))?;
        }
        // On this thread, in the container's namespace: the /dev/null it
        // opens is one the init may bind from.
        let proc_remount = again.filter(|again| !again.is_empty());
        nix::unistd::fchdir(root.as_raw_fd()).map_err(at("entering the root"))?;
        nix::mount::mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .map_err(at("moving the root onto /"))?;
        Ok(Container {
            namespace,
            uts: uts.or(joined.uts),
            ipc: ipc.or(joined.ipc),
            user: None,
            init_namespaces: self.namespaces,
            root,
            cgroup: None,
            seccomp: self.seccomp.clone(),
            proc_remount,
            made_by_init: InitNamespaces::default(),
        })
    }

    /// The hostname, domain name and sysctls, in the namespaces of the
    /// calling thread: the container's UTS and IPC namespaces, or the
    /// guest's when the spec asks for none (an empty hostname leaves the
    /// inherited one, as under runc).
    fn set_system(&self) -> Result<(), Error> {
        if let Some(hostname) = &self.hostname {
            nix::unistd::sethostname(hostname).map_err(|errno| Error::Setup {
                step: "setting the hostname",
                errno,
            })?;
        }
        if let Some(domainname) = &self.domainname {
            // SAFETY: setdomainname reads `len` bytes of the live string.
            let rc = unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) };
            Errno::result(rc).map_err(|errno| Error::Setup {
                step: "setting the domain name",
                errno,
            })?;
        }
        for (key, value) in &self.sysctl {
            let path = Path::new("/proc/sys").join(key.replace('.', "/"));
            fs::write(path, value.as_bytes()).map_err(|error| Error::Sysctl {
                key: key.clone(),
                errno: super::errno_of(&error),
            })?;
        }
        Ok(())
    }
}

fn name(field: &'static str, value: &Option<String>) -> Result<Option<String>, Error> {
    match value {
        Some(name) if name.len() > 64 || name.contains('\0') => Err(Error::Name(field)),
        Some(name) if !name.is_empty() => Ok(Some(name.clone())),
        _ => Ok(None),
    }
}

fn device_of(device: &oci_spec::runtime::LinuxDevice) -> Result<Device, Error> {
    let path = device.path().clone();
    let problem = |problem| Error::Path {
        field: "linux.devices",
        path: path.clone(),
        problem,
    };
    if resolve::cstring(&path).is_err() || path.file_name().is_none() {
        return Err(problem("is not a file path"));
    }
    if path.components().any(|part| part == Component::ParentDir) {
        return Err(problem("contains .."));
    }
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(problem("type a is not a device node")),
    };
    let (major, minor) = (device.major(), device.minor());
    let (Ok(major), Ok(minor)) = (u32::try_from(major), u32::try_from(minor)) else {
        return Err(problem("major or minor is out of range"));
    };
    Ok(Device {
        path: path.clone(),
        kind,
        rdev: libc::makedev(major, minor),
        mode: device.file_mode().unwrap_or(0o666) & 0o7777,
        uid: device.uid(),
        gid: device.gid(),
    })
}

fn is_dev_tmpfs(mount: &Mount) -> bool {
    matches!(
        mount.what,
        mounts::What::Fs {
            fstype: "tmpfs",
            ..
        }
    ) && mount.destination == Path::new("/dev")
}

/// The default OCI device nodes and symlinks, on a fresh /dev.
fn default_dev(dev: BorrowedFd) -> Result<(), Errno> {
    let dir = dev.as_raw_fd();
    for (name, major, minor) in DEFAULT_DEVICES {
        let rdev = libc::makedev(major, minor);
        let mode = Mode::from_bits_truncate(0o666);
        match nix::sys::stat::mknodat(Some(dir), name, SFlag::S_IFCHR, mode, rdev) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(errno),
        }
    }
    for (name, target) in DEFAULT_LINKS {
        match nix::unistd::symlinkat(target, Some(dir), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(errno),
        }
    }
    for name in ["pts", "shm"] {
        match nix::sys::stat::mkdirat(Some(dir), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(())
}

fn make_device(root: BorrowedFd, device: &Device) -> Result<(), Errno> {
    let parent = device.path.parent().unwrap_or(Path::new("/"));
    let dir = resolve::create_in(root, parent, Kind::Dir)?;
    let name = device.path.file_name().unwrap_or_default();
    let mode = Mode::from_bits_truncate(device.mode);
    match nix::sys::stat::mknodat(Some(dir.as_raw_fd()), name, device.kind, mode, device.rdev) {
        Ok(()) => {}
        // An existing node (a bind-mounted /dev, say) stays as it is.
        Err(Errno::EEXIST) => return Ok(()),
        Err(errno) => return Err(errno),
    }
    if device.uid.is_some() || device.gid.is_some() {
        nix::unistd::fchownat(
            Some(dir.as_raw_fd()),
            name,
            device.uid.map(nix::unistd::Uid::from_raw),
            device.gid.map(nix::unistd::Gid::from_raw),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    Ok(())
}

/// Opens `path` inside `root`, or None if it does not exist.
fn existing(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>, Errno> {
    match resolve::open_in(root, path, OFlag::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(errno) => Err(errno),
    }
}

/// Hides `path`: a read-only empty tmpfs over a directory, /dev/null over
/// anything else. A missing path is skipped (None); else returns the
/// masked path, opened before the mask.
fn mask(root: BorrowedFd, path: &Path) -> Result<Option<OwnedFd>, Errno> {
    let Some(target) = existing(root, path)? else {
        return Ok(None);
    };
    let stat = nix::sys::stat::fstat(target.as_raw_fd())?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        nix::mount::mount(
            Some("tmpfs"),
            &resolve::fd_path(target.as_fd()),
            Some("tmpfs"),
            flags,
            None::<&str>,
        )?;
    } else {
        let null = mounts::open_path(Path::new("/dev/null"))?;
        mounts::mount_at(
            Some(null.as_fd()),
            target.as_fd(),
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    Ok(Some(target))
}

/// Makes `path` a read-only bind of itself. A missing path is skipped
/// (None); else returns the path, opened before the bind, and the flags
/// of the read-only remount.
fn read_only(root: BorrowedFd, path: &Path) -> Result<Option<(OwnedFd, MsFlags)>, Errno> {
    let Some(target) = existing(root, path)? else {
        return Ok(None);
    };
    let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mounts::mount_at(Some(target.as_fd()), target.as_fd(), None, rbind, None)?;
    let mounted = resolve::open_in(root, path, OFlag::O_PATH)?;
    let flags = mounts::remount_read_only(mounted.as_fd())?;
    Ok(Some((target, flags)))
}

/// The path of `fd` in the container, once the root prepared at
/// `prepared` is its `/`.
fn container_path(fd: BorrowedFd, prepared: &Path) -> Result<CString, Errno> {
    let path = fs::read_link(resolve::fd_path(fd)).map_err(|error| super::errno_of(&error))?;
    let inside = path.strip_prefix(prepared).map_err(|_| Errno::EXDEV)?;
    resolve::cstring(&Path::new("/").join(inside))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn plan(extra: Value) -> Result<Plan, Error> {
        let mut spec = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}});
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        Plan::new(&serde_json::from_value(spec).unwrap())
    }

    fn refused(extra: Value) -> String {
        plan(extra).unwrap_err().to_string()
    }

    #[test]
    fn a_docker_like_spec_is_planned() {
        let plan = plan(json!({
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                    "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/etc/hosts", "type": "bind", "source": "mounts/0",
                    "options": ["rbind", "rprivate"]},
            ],
            "linux": {
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "rootfsPropagation": "rslave",
                "namespaces": [{"type": "pid"}, {"type": "uts"}, {"type": "cgroup"},
                    {"type": "mount"}, {"type": "network", "path": "/var/run/netns/x"}],
                "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"},
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}],
            },
        }))
        .unwrap();
        assert!(plan.readonly);
        assert_eq!(plan.mounts.len(), 3);
        assert!(is_dev_tmpfs(&plan.mounts[1]));
        assert!(!is_dev_tmpfs(&plan.mounts[0]));
        assert_eq!(plan.hostname.as_deref(), Some("box"));
        assert_eq!(plan.propagation, Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        assert_eq!(
            plan.namespaces,
            Namespaces {
                uts: true,
                ipc: false,
                pid: true,
                cgroup: true,
                user: false,
            }
        );
        assert_eq!(plan.sysctl[0].0, "kernel.shmmax");
        assert_eq!(
            plan.devices,
            [Device {
                path: "/dev/fuse".into(),
                kind: SFlag::S_IFCHR,
                rdev: libc::makedev(10, 229),
                mode: 0o666,
                uid: None,
                gid: None,
            }]
        );
    }

    #[test]
    fn bad_specs_are_refused_naming_the_field() {
        let long = "x".repeat(65);
        let cases = [
            (json!({"root": null}), "root.path is missing".to_string()),
            (
                json!({"root": {"path": "/var/lib/rootfs"}}),
                "root.path /var/lib/rootfs must be relative to the share".into(),
            ),
            (
                json!({"mounts": [{"destination": "/x", "type": "ext4", "source": "/dev/vda"}]}),
                "mount /x: type ext4 is not supported".into(),
            ),
            (
                json!({"hostname": long}),
                "hostname is longer than 64 bytes or contains a NUL byte".into(),
            ),
            (
                json!({"linux": {"sysctl": {"kernel/../../etc": "1"}}}),
                "linux.sysctl \"kernel/../../etc\" is not a valid key or value".into(),
            ),
            (
                json!({"linux": {"sysctl": {"kernel..x": "1"}}}),
                "linux.sysctl \"kernel..x\" is not a valid key or value".into(),
            ),
            (
                json!({"linux": {"rootfsPropagation": "sideways"}}),
                "linux.rootfsPropagation sideways is not valid".into(),
            ),
            (
                json!({"linux": {"devices": [{"path": "/dev/all", "type": "a"}]}}),
                "linux.devices /dev/all: type a is not a device node".into(),
            ),
            (
                json!({"linux": {"devices": [{"path": "/dev/../x", "type": "c",
                    "major": 1, "minor": 3}]}}),
                "linux.devices /dev/../x: contains ..".into(),
            ),
            (
                json!({"linux": {"maskedPaths": [""]}}),
                "linux.maskedPaths : is empty or contains a NUL byte".into(),
            ),
            (
                json!({"linux": {"namespaces": [{"type": "ipc", "path": "/proc/1/ns/ipc"}]}}),
                "linux.namespaces: the ipc namespace at /proc/1/ns/ipc cannot be joined in the guest: the path names a namespace of the host".into(),
            ),
            (
                json!({"linux": {"namespaces": [{"type": "time"}]}}),
                "linux.namespaces: time namespaces are not supported".into(),
            ),
            (
                json!({"linux": {"namespaces": [{"type": "user"}]}}),
                "linux.namespaces: a user namespace needs linux.uidMappings and linux.gidMappings".into(),
            ),
        ];
        for (extra, message) in cases {
            assert_eq!(refused(extra), message);
        }
    }
}
