//! A pod member's share inside its first container's: the member's rootfs
//! and bind sources are mounted under the first container's share
//! directory, at `members/<id>/` (see [`proto::agent::SHARE_MEMBERS`]), in
//! the mount namespace of that container's monitor, where its virtio-fs
//! server already serves the share: no device is hot-plugged, and the
//! monitor's jail (which holds its container directory at its host path)
//! needs nothing new. The FUSE server's lookups cross into these mounts
//! as they cross into the first container's own.
//!
//! Each source is cloned as a detached mount tree in the caller's mount
//! namespace (`open_tree`), hardened as the jail hardens the share (and
//! made read-only if asked), and attached (`move_mount`) by a
//! thread that has entered the monitor's mount namespace: no host path is
//! resolved in there, and the rest of the process stays where it is. The
//! mounts go with the member ([`unstage`]), or with the namespace when the
//! first container's monitor ends.

use std::fs::File;
use std::io::BufRead;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};
use nix::sched::{setns, unshare, CloneFlags};
use rustix::fs::CWD;
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

use super::jail::harden_tree;
use super::share::Bind;

/// Why a member's share could not be staged or removed.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("mount {} (destination {}) does not exist", .0.display(), .1.display())]
    NoSource(PathBuf, PathBuf),
    #[error("cloning the mount {}", .0.display())]
    Clone(PathBuf, #[source] std::io::Error),
    #[error("hardening the mount of {}", .0.display())]
    Harden(PathBuf, #[source] std::io::Error),
    #[error("creating {}", .0.display())]
    Create(PathBuf, #[source] std::io::Error),
    #[error("opening the mount namespace of the pod's monitor (pid {0})")]
    Namespace(i32, #[source] std::io::Error),
    #[error("entering the mount namespace of the pod's monitor")]
    Enter(#[source] nix::Error),
    #[error("mounting {} in the pod's share", .0.display())]
    Attach(PathBuf, #[source] std::io::Error),
    #[error("reading the mounts of the pod's monitor")]
    Mounts(#[source] std::io::Error),
    #[error("starting a thread for the pod's mount namespace")]
    Thread(#[source] std::io::Error),
}

/// A detached clone of the mount tree at `source` (recursive: with the
/// mounts below it), in no namespace yet.
fn clone_tree(source: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    Ok(open_tree(CWD, source, flags)?)
}

/// Attaches the detached tree `tree` at `target` (a path in the calling
/// thread's mount namespace).
fn attach(tree: &OwnedFd, target: &Path) -> std::io::Result<()> {
    Ok(move_mount(
        tree,
        "",
        CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?)
}

/// Runs `work` on a thread of its own in the mount namespace of process
/// `pid`: the thread first takes its own root and cwd (unshare CLONE_FS),
/// without which a thread of a process cannot change mount namespace.
fn in_mount_namespace<T: Send>(
    pid: i32,
    work: impl FnOnce() -> Result<T, PodError> + Send,
) -> Result<T, PodError> {
    let namespace =
        File::open(format!("/proc/{pid}/ns/mnt")).map_err(|e| PodError::Namespace(pid, e))?;
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("pod-mounts".into())
            .spawn_scoped(scope, || {
                unshare(CloneFlags::CLONE_FS).map_err(PodError::Enter)?;
                setns(&namespace, CloneFlags::CLONE_NEWNS).map_err(PodError::Enter)?;
                work()
            })
            .map_err(PodError::Thread)?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Mounts `binds` (targets under the first container's share, as the
/// host sees it) in the mount namespace of that container's monitor,
/// `monitor_pid`. The mount points are made on the host: the share
/// directory is the same directory in both namespaces.
pub fn stage(monitor_pid: i32, binds: &[Bind]) -> Result<(), PodError> {
    let mut trees = Vec::new();
    for (source, target, recursive, readonly) in binds {
        let meta = std::fs::metadata(source)
            .map_err(|_| PodError::NoSource(source.clone(), target.clone()))?;
        let parent = target.parent().unwrap_or(target);
        std::fs::create_dir_all(parent)
            .and_then(|()| match meta.is_dir() {
                true => std::fs::create_dir_all(target),
                false => File::create(target).map(drop),
            })
            .map_err(|e| PodError::Create(target.clone(), e))?;
        let tree =
            clone_tree(source, *recursive).map_err(|e| PodError::Clone(source.clone(), e))?;
        harden_tree(tree.as_fd(), *readonly).map_err(|e| PodError::Harden(source.clone(), e))?;
        trees.push((tree, target));
    }
    in_mount_namespace(monitor_pid, || {
        for (tree, target) in &trees {
            attach(tree, target).map_err(|e| PodError::Attach((*target).clone(), e))?;
        }
        Ok(())
    })
}

/// The mount points at or under `dir` in a mountinfo (field 5, octal
/// escapes undone), deepest last.
fn mounts_under(mountinfo: impl BufRead, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let point = line.split(' ').nth(4)?;
            let point = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(point)));
            point.starts_with(dir).then_some(point)
        })
        .collect()
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Detaches whatever is mounted at or under `member_share` (a member's
/// directory in the first container's share) in the mount namespace of
/// that container's monitor, `monitor_pid`.
pub fn unstage(monitor_pid: i32, member_share: &Path) -> Result<(), PodError> {
    let mountinfo =
        File::open(format!("/proc/{monitor_pid}/mountinfo")).map_err(PodError::Mounts)?;
    let points = mounts_under(std::io::BufReader::new(mountinfo), member_share);
    in_mount_namespace(monitor_pid, || {
        // Deepest first; a mount already gone with its parent is no error.
        for point in points.iter().rev() {
            let _ = umount2(point, MntFlags::MNT_DETACH);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_under_a_member_share_are_found_unescaped() {
        let mountinfo = "\
21 1 0:20 / / rw - tmpfs tmpfs rw
30 21 0:21 / /run/runvm/a rw - tmpfs tmpfs rw
31 30 0:22 / /run/runvm/a/share/rootfs rw - ext4 /dev/sda rw
32 30 0:22 /b /run/runvm/a/share/members/b/rootfs rw - ext4 /dev/sda rw
33 32 0:23 / /run/runvm/a/share/members/b/mounts/1/my\\040data rw - tmpfs t rw
34 30 0:22 /c /run/runvm/a/share/members/bb/rootfs rw - ext4 /dev/sda rw
";
        let found = mounts_under(
            mountinfo.as_bytes(),
            Path::new("/run/runvm/a/share/members/b"),
        );
        assert_eq!(
            found,
            [
                PathBuf::from("/run/runvm/a/share/members/b/rootfs"),
                PathBuf::from("/run/runvm/a/share/members/b/mounts/1/my data"),
            ]
        );
    }

    #[test]
    fn a_missing_source_is_named() {
        let binds = [(
            PathBuf::from("/nonexistent/rootfs"),
            PathBuf::from("/nonexistent/share/members/b/rootfs"),
            true,
            false,
        )];
        let err = stage(1, &binds).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mount /nonexistent/rootfs (destination /nonexistent/share/members/b/rootfs) does not exist"
        );
    }
}
