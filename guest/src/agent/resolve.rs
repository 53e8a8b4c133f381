//! Paths looked up inside a directory as if it were the root: absolute
//! symlinks and `..` stay inside it, and /proc magic links are refused
//! with EXDEV (openat2 with `RESOLVE_IN_ROOT`, Linux 5.6+: scoped lookups
//! never follow magic links). Container paths (mount points, cwd,
//! programs) are only ever resolved this way.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// `struct open_how` of linux/openat2.h (libc's cannot be built outside
/// libc).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(`dir`, `path`, `flags`) inside `dir`; the fd or -1 with errno
/// set. Makes one system call and allocates nothing: usable between fork
/// and exec.
pub fn openat2_in_root(dir: RawFd, path: &CStr, flags: libc::c_int) -> RawFd {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT,
    };
    // SAFETY: `path` is NUL-terminated and `how` is a live open_how of the
    // size passed; the kernel only reads both.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    fd as RawFd
}

pub fn cstring(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// Opens `path` inside `root` (an absolute `path` starts at `root`).
pub fn open_in(root: BorrowedFd, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let path = if path.as_os_str().is_empty() {
        c".".to_owned()
    } else {
        cstring(path)?
    };
    // EAGAIN: a rename raced the lookup of a `..`; the kernel asks to retry.
    for _ in 0..16 {
        let fd = openat2_in_root(root.as_raw_fd(), &path, flags.bits());
        if fd >= 0 {
            // SAFETY: openat2 just returned this descriptor; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        match Errno::last() {
            Errno::EAGAIN | Errno::EINTR => {}
            errno => return Err(errno),
        }
    }
    Err(Errno::EAGAIN)
}

/// What [`create_in`] makes of a missing last component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens `path` inside `root` with O_PATH, first creating what is missing:
/// directories, and the last component as `last` (an empty file for
/// `Kind::File`). A dangling symlink is not followed to create its target:
/// it fails with ENOENT.
pub fn create_in(root: BorrowedFd, path: &Path, last: Kind) -> Result<OwnedFd, Errno> {
    let names: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name),
            Component::ParentDir => Some("..".as_ref()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    let mut current = open_in(root, Path::new("/"), OFlag::O_PATH)?;
    let mut prefix = PathBuf::from("/");
    for (index, name) in names.iter().enumerate() {
        prefix.push(name);
        match open_in(root, &prefix, OFlag::O_PATH) {
            Ok(fd) => current = fd,
            Err(Errno::ENOENT) => {
                let as_file = last == Kind::File && index + 1 == names.len();
                make(current.as_raw_fd(), &cstring(Path::new(name))?, as_file)?;
                current = open_in(root, &prefix, OFlag::O_PATH)?;
            }
            Err(errno) => return Err(errno),
        }
    }
    Ok(current)
}

/// Creates `name` in the directory `dir`; an existing entry (a dangling
/// symlink, say) is left alone.
fn make(dir: RawFd, name: &CStr, file: bool) -> Result<(), Errno> {
    let made = if file {
        let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        nix::fcntl::openat(Some(dir), name, flags, Mode::from_bits_truncate(0o644)).map(|fd| {
            // Closing a new empty file cannot lose data.
            let _ = nix::unistd::close(fd);
        })
    } else {
        nix::sys::stat::mkdirat(Some(dir), name, Mode::from_bits_truncate(0o755))
    };
    match made {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(errno),
    }
}

/// The path through which the kernel reaches exactly what `fd` refers to;
/// mount(2) takes paths, so this is how mounts land on resolved targets.
pub fn fd_path(fd: BorrowedFd) -> PathBuf {
    PathBuf::from(format!("/proc/thread-self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    fn where_is(fd: &OwnedFd) -> PathBuf {
        fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap()
    }

    fn open_root(dir: &tempfile::TempDir) -> OwnedFd {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(dir.path(), flags, Mode::empty()).unwrap();
        // SAFETY: open just returned this descriptor.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(&dir);
        fs::create_dir(dir.path().join("real")).unwrap();
        symlink("/", dir.path().join("etc")).unwrap();
        symlink("../../../real", dir.path().join("up")).unwrap();
        let fd = open_in(root.as_fd(), Path::new("/etc/real"), OFlag::O_PATH).unwrap();
        assert_eq!(where_is(&fd), dir.path().join("real"));
        let fd = open_in(root.as_fd(), Path::new("../../up"), OFlag::O_PATH).unwrap();
        assert_eq!(where_is(&fd), dir.path().join("real"));
        let fd = open_in(root.as_fd(), Path::new(""), OFlag::O_PATH).unwrap();
        assert_eq!(where_is(&fd), dir.path());
    }

    #[test]
    fn magic_links_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(&dir);
        symlink("/proc/self/root", dir.path().join("escape")).unwrap();
        fs::create_dir_all(dir.path().join("proc/self")).unwrap();
        // Resolves inside the root: no such entry.
        let missing = open_in(root.as_fd(), Path::new("/escape/etc"), OFlag::O_PATH);
        assert_eq!(missing.unwrap_err(), Errno::ENOENT);
        // The real /proc, reached through an fd of ours, is a magic link.
        let proc_root = nix::fcntl::open("/proc", OFlag::O_PATH, Mode::empty()).unwrap();
        // SAFETY: open just returned this descriptor.
        let proc_root = unsafe { OwnedFd::from_raw_fd(proc_root) };
        let magic = open_in(proc_root.as_fd(), Path::new("self/cwd"), OFlag::O_PATH);
        assert_eq!(magic.unwrap_err(), Errno::EXDEV);
    }

    #[test]
    fn create_in_makes_missing_parts_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(&dir);
        symlink("/", dir.path().join("etc")).unwrap();
        let fd = create_in(root.as_fd(), Path::new("/etc/a/b"), Kind::Dir).unwrap();
        assert_eq!(where_is(&fd), dir.path().join("a/b"));
        assert!(dir.path().join("a/b").is_dir());
        let fd = create_in(root.as_fd(), Path::new("/../x/../etc/hosts"), Kind::File).unwrap();
        assert_eq!(where_is(&fd), dir.path().join("hosts"));
        assert!(dir.path().join("hosts").is_file());
        // Existing entries are opened as they are.
        let fd = create_in(root.as_fd(), Path::new("a"), Kind::File).unwrap();
        assert_eq!(where_is(&fd), dir.path().join("a"));
    }

    #[test]
    fn create_in_refuses_dangling_symlinks_and_files_as_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(&dir);
        symlink("/nowhere/deep", dir.path().join("dangling")).unwrap();
        fs::write(dir.path().join("file"), "").unwrap();
        let dangling = create_in(root.as_fd(), Path::new("/dangling"), Kind::Dir);
        assert_eq!(dangling.unwrap_err(), Errno::ENOENT);
        assert!(!dir.path().join("nowhere").exists());
        let under_file = create_in(root.as_fd(), Path::new("/file/x"), Kind::Dir);
        assert_eq!(under_file.unwrap_err(), Errno::ENOTDIR);
    }
}
