//! The monitor's jail. Once the container is set up (its VM running, the
//! host's prestart and createRuntime hooks done), the monitor needs none of
//! the host's file system but its own container directory: the state, the
//! console log, the sockets, and the share the FUSE server serves (inside
//! it), plus its own /proc/self/fd, through which the FUSE server reaches
//! the xattrs of the `O_PATH` fds it holds. Its devices (/dev/kvm) and
//! stdio are fds it already holds. So it pivots, in its private mount
//! namespace, into a read-only tmpfs holding only those at their usual
//! paths, drops the host's root, sets no_new_privs and caps its
//! open-file limit: a thread taken over by the guest finds no host
//! binaries, configuration or devices to open, and nothing it can exec.
//!
//! The container directory is made a mount of its own before anything is
//! opened in it ([`make_movable`]) and is later moved into the jail whole,
//! with the share's bind mounts under it. Binding it again instead would
//! leave the FUSE server's open fds in the old mounts, which the detached
//! host root then cuts off from the mounts below them (the rootfs, the bind
//! mounts): lookups from those fds would find the empty directories under
//! the mount points.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Where the old root is put until it is detached (in the jail's root).
const OLD_ROOT: &str = ".old-root";
/// This process's fds by number: the only part of /proc in the jail.
const PROC_SELF_FD: &str = "/proc/self/fd";

/// Why the monitor could not enter its jail.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("{} is not an absolute path with a parent", .0.display())]
    NotAbsolute(PathBuf),
    #[error("creating {}", .0.display())]
    Create(PathBuf, #[source] std::io::Error),
    #[error("opening {}", .0.display())]
    Open(PathBuf, #[source] std::io::Error),
    #[error("mounting {}", .0.display())]
    Mount(PathBuf, #[source] nix::Error),
    #[error("moving {} into the jail", .0.display())]
    Move(PathBuf, #[source] nix::Error),
    #[error("pivoting into the jail at {}", .0.display())]
    Pivot(PathBuf, #[source] nix::Error),
    #[error("removing {}", .0.display())]
    Remove(PathBuf, #[source] std::io::Error),
    #[error("detaching the host's root")]
    Detach(#[source] nix::Error),
    #[error("making {} nosuid, nodev and noexec", .0.display())]
    Harden(PathBuf, #[source] std::io::Error),
    #[error("setting no_new_privs")]
    NoNewPrivs(#[source] nix::Error),
    #[error("capping RLIMIT_NOFILE")]
    FileLimit(#[source] nix::Error),
}

/// `path` (absolute) inside a jail whose root is at `jail`.
fn inside(jail: &Path, path: &Path) -> PathBuf {
    jail.join(path.strip_prefix("/").unwrap_or(path))
}

fn bind_flags() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

/// Makes every mount of the tree at `tree` private, nosuid, nodev,
/// noexec and, with `readonly`, read-only: the share's files are the
/// guest's, which the monitor never executes, and its device nodes are the
/// guest kernel's business, never the host's.
pub fn harden_tree(tree: BorrowedFd<'_>, readonly: bool) -> std::io::Result<()> {
    let mut set = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
    if readonly {
        set |= libc::MOUNT_ATTR_RDONLY;
    }
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: 0,
        // Nothing the host mounts later propagates in unhardened.
        propagation: libc::MS_PRIVATE,
        userns_fd: 0,
    };
    // SAFETY: the path is a static empty string and `attr` a live
    // mount_attr of the size passed; the kernel only reads both.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &raw const attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Mounts a /proc that shows only processes (`subset=pid`) and of those
/// only the ones this process may ptrace (`hidepid=invisible`) over the
/// host's, in the monitor's private mount namespace. What the VMM opens in
/// /proc while it is set up (the FUSE server keeps /proc/self/fd) is then
/// this instance, from which no `..` leads to /proc/sys. Linux 5.8 or
/// later.
pub fn mount_pid_only_proc() -> Result<(), JailError> {
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        bind_flags(),
        Some("subset=pid,hidepid=invisible"),
    )
    .map_err(|e| JailError::Mount("/proc".into(), e))
}

/// Takes the /proc of [`mount_pid_only_proc`] out of the namespace again
/// (fds opened in it keep it), for the host's hooks that run next.
pub fn unmount_pid_only_proc() -> Result<(), JailError> {
    umount2("/proc", MntFlags::MNT_DETACH).map_err(|e| JailError::Mount("/proc".into(), e))
}

/// Makes `container_dir` (absolute, created if missing) a mount of its
/// own, so that [`enter`] can later move it, with everything mounted and
/// opened under it, into the jail. Must run in the monitor's private mount
/// namespace, before anything is mounted or opened under the directory.
pub fn make_movable(container_dir: &Path) -> Result<(), JailError> {
    if !container_dir.is_absolute() {
        return Err(JailError::NotAbsolute(container_dir.into()));
    }
    std::fs::create_dir_all(container_dir)
        .map_err(|e| JailError::Create(container_dir.into(), e))?;
    mount(
        Some(container_dir),
        container_dir,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| JailError::Mount(container_dir.into(), e))
}

/// Moves this process (every thread of it) into a root that holds only
/// `container_dir`, made movable by [`make_movable`], and
/// /proc/self/fd, at their usual paths.
/// Then no thread may gain privileges through exec (no_new_privs), and the
/// open-file hard limit is lowered to the soft one.
pub fn enter(container_dir: &Path) -> Result<(), JailError> {
    let parent = container_dir
        .parent()
        .filter(|_| container_dir.is_absolute())
        .ok_or_else(|| JailError::NotAbsolute(container_dir.into()))?;
    // The container directory by fd: the tmpfs below hides its path.
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(container_dir)
        .map_err(|e| JailError::Open(container_dir.into(), e))?;
    harden_tree(dir.as_fd(), false).map_err(|e| JailError::Harden(container_dir.into(), e))?;
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));

    // The jail's root is a tmpfs over the --root directory: a mount point
    // that exists, outside the container directory's own mount.
    let jail = parent;
    mount(
        Some("tmpfs"),
        jail,
        Some("tmpfs"),
        bind_flags(),
        Some("mode=0755,size=64k"),
    )
    .map_err(|e| JailError::Mount(jail.into(), e))?;
    let dir_inside = inside(jail, container_dir);
    std::fs::create_dir_all(&dir_inside).map_err(|e| JailError::Create(dir_inside.clone(), e))?;
    mount(
        Some(&by_fd),
        &dir_inside,
        None::<&str>,
        MsFlags::MS_MOVE,
        None::<&str>,
    )
    .map_err(|e| JailError::Move(container_dir.into(), e))?;
    drop(dir);
    // "self" is resolved now, to this process: the bind is of its own fds.
    let fds_inside = inside(jail, Path::new(PROC_SELF_FD));
    std::fs::create_dir_all(&fds_inside).map_err(|e| JailError::Create(fds_inside.clone(), e))?;
    mount(
        Some(PROC_SELF_FD),
        &fds_inside,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| JailError::Mount(fds_inside.clone(), e))?;

    let old_root = jail.join(OLD_ROOT);
    std::fs::create_dir(&old_root).map_err(|e| JailError::Create(old_root.clone(), e))?;
    nix::unistd::pivot_root(jail, &old_root).map_err(|e| JailError::Pivot(jail.into(), e))?;
    nix::unistd::chdir("/").map_err(|e| JailError::Pivot(jail.into(), e))?;
    let old_root = Path::new("/").join(OLD_ROOT);
    umount2(&old_root, MntFlags::MNT_DETACH).map_err(JailError::Detach)?;
    std::fs::remove_dir(&old_root).map_err(|e| JailError::Remove(old_root.clone(), e))?;
    // The jail's own directories are fixed from here on.
    let read_only = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | bind_flags();
    mount(None::<&str>, "/", None::<&str>, read_only, None::<&str>)
        .map_err(|e| JailError::Mount("/".into(), e))?;

    // This thread's; the others set it when they install their seccomp
    // filters, and threads started from here on inherit it.
    nix::sys::prctl::set_no_new_privs().map_err(JailError::NoNewPrivs)?;
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(JailError::FileLimit)?;
    setrlimit(Resource::RLIMIT_NOFILE, soft, soft).map_err(JailError::FileLimit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;

    #[test]
    fn paths_keep_their_place_inside_the_jail() {
        let jail = Path::new("/run/runvm");
        assert_eq!(
            inside(jail, Path::new("/run/runvm/c1")),
            Path::new("/run/runvm/run/runvm/c1")
        );
    }

    #[test]
    fn relative_container_dirs_are_refused() {
        assert!(matches!(
            make_movable(Path::new("root/c1")),
            Err(JailError::NotAbsolute(_))
        ));
        assert!(matches!(
            enter(Path::new("c1")),
            Err(JailError::NotAbsolute(_))
        ));
        assert!(matches!(
            enter(Path::new("/")),
            Err(JailError::NotAbsolute(_))
        ));
    }

    /// Runs `body` in a forked child in a user and mount namespace of its
    /// own (as root there, without privileges on the host) and returns
    /// what went wrong, if anything.
    fn in_own_namespaces(body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
        let (read, write) = nix::unistd::pipe().map_err(|e| e.to_string())?;
        // SAFETY: the child only runs `body` and then _exits; the pipe is
        // how it reports.
        match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
            nix::unistd::ForkResult::Child => {
                drop(read);
                let result = (|| {
                    use nix::sched::{unshare, CloneFlags};
                    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
                        .map_err(|e| format!("unshare: {e}"))?;
                    let write_map = |file: &str, text: String| {
                        std::fs::write(format!("/proc/self/{file}"), text)
                            .map_err(|e| format!("{file}: {e}"))
                    };
                    write_map("setgroups", "deny".into())?;
                    write_map("uid_map", format!("0 {uid} 1"))?;
                    write_map("gid_map", format!("0 {gid} 1"))?;
                    let slave = MsFlags::MS_REC | MsFlags::MS_SLAVE;
                    mount(None::<&str>, "/", None::<&str>, slave, None::<&str>)
                        .map_err(|e| format!("making / a slave: {e}"))?;
                    body()
                })();
                let mut write = std::fs::File::from(write);
                let code = match result {
                    Ok(()) => 0,
                    Err(e) => {
                        let _ = std::io::Write::write_all(&mut write, e.as_bytes());
                        1
                    }
                };
                // SAFETY: _exit ends the child without running the
                // parent's atexit handlers or destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(write);
                let mut report = String::new();
                std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut report)
                    .map_err(|e| e.to_string())?;
                match nix::sys::wait::waitpid(child, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
                    status => Err(format!("{status:?}: {report}")),
                }
            }
        }
    }

    #[test]
    fn the_jail_holds_only_the_container_directory_and_keeps_the_shares_mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let dir = base.join("root/c1");
        let rootfs = base.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::write(rootfs.join("hello"), "from the rootfs").unwrap();
        let top = base.components().nth(1).unwrap().as_os_str().to_owned();

        let result = in_own_namespaces(|| {
            make_movable(&dir).map_err(|e| format!("make_movable: {e}"))?;
            let share = dir.join("share");
            std::fs::create_dir_all(share.join("rootfs")).map_err(|e| e.to_string())?;
            mount(
                Some(&rootfs),
                &share.join("rootfs"),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| format!("binding the rootfs: {e}"))?;
            // What the FUSE server holds: the share by fd.
            let share_fd = std::fs::File::open(&share).map_err(|e| e.to_string())?;

            enter(&dir).map_err(|e| format!("enter: {e:?}"))?;

            let listed: Vec<_> = std::fs::read_dir("/")
                .map_err(|e| e.to_string())?
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let mut listed = listed;
            listed.sort();
            let mut expected = vec![top.clone(), "proc".into()];
            expected.sort();
            if listed != expected {
                return Err(format!("the jail's root holds {listed:?}"));
            }
            let in_proc: Vec<_> = std::fs::read_dir("/proc")
                .map_err(|e| e.to_string())?
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            if in_proc != ["self"] {
                return Err(format!("the jail's /proc holds {in_proc:?}"));
            }
            // How the FUSE server reaches an O_PATH fd's xattrs.
            let by_number = format!("/proc/self/fd/{}/rootfs/hello", share_fd.as_raw_fd());
            std::fs::metadata(&by_number).map_err(|e| format!("{by_number}: {e}"))?;
            let below = nix::fcntl::openat(
                Some(share_fd.as_raw_fd()),
                "rootfs/hello",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("the share lost its rootfs mount: {e}"))?;
            let mut text = String::new();
            // SAFETY: openat returned this fd just now and nothing else owns it.
            let mut below =
                unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(below) };
            std::io::Read::read_to_string(&mut below, &mut text).map_err(|e| e.to_string())?;
            if text != "from the rootfs" {
                return Err(format!("the share's rootfs/hello holds {text:?}"));
            }
            use nix::sys::statvfs::FsFlags;
            let flags = nix::sys::statvfs::fstatvfs(&below)
                .map_err(|e| e.to_string())?
                .flags();
            let hardened = FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC;
            if !flags.contains(hardened) {
                return Err(format!("the share's rootfs mount has flags {flags:?}"));
            }
            std::fs::write(dir.join("state.json"), "{}")
                .map_err(|e| format!("the container directory is not writable: {e}"))?;
            if std::fs::write("/escape", "x").is_ok() {
                return Err("the jail's root is writable".into());
            }
            match nix::sys::prctl::get_no_new_privs() {
                Ok(true) => Ok(()),
                other => Err(format!("no_new_privs is {other:?}")),
            }
        });
        let written = std::fs::read_to_string(dir.join("state.json"));
        result.unwrap();
        assert_eq!(
            written.unwrap(),
            "{}",
            "the state written in the jail is on the host"
        );
    }
}
