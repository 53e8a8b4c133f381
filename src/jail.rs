//! The monitor's jail. Once the container is set up (its VM running, the
//! host's prestart and createRuntime hooks done), the monitor needs no more
//! of the host's file system than its own container directory (state,
//! console log, sockets), the share the FUSE server serves, and /proc (the
//! FUSE server reopens files through /proc/self/fd). In its private mount
//! namespace it pivots into a read-only tmpfs holding exactly those,
//! mounted at their usual paths, and lets go of the old root: a thread
//! taken over by the guest finds no host binaries, configuration or
//! devices to open.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The jail's mount point in the container directory (empty on the host).
const JAIL_DIR: &str = "jail";
/// Where the old root is put until it is detached.
const OLD_ROOT: &str = ".old-root";

/// Why the monitor could not enter its jail.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    #[error("creating {}", .0.display())]
    Create(PathBuf, #[source] std::io::Error),
    #[error("mounting {}", .0.display())]
    Mount(PathBuf, #[source] nix::Error),
    #[error("pivoting into the jail {}", .0.display())]
    Pivot(PathBuf, #[source] nix::Error),
    #[error("detaching the host's root")]
    Detach(#[source] nix::Error),
}

/// `path` inside the jail rooted at `jail`.
fn inside(jail: &Path, path: &Path) -> PathBuf {
    jail.join(path.strip_prefix("/").unwrap_or(path))
}

fn create_dir_all(path: &Path) -> Result<(), JailError> {
    std::fs::create_dir_all(path).map_err(|e| JailError::Create(path.into(), e))
}

fn bind(source: &Path, target: &Path, flags: MsFlags) -> Result<(), JailError> {
    mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | flags, None::<&str>)
        .map_err(|e| JailError::Mount(target.into(), e))
}

/// Moves this process (every thread of it) into a root that holds only
/// `container_dir` (bound without what is mounted under it), `share_dir`
/// (with the mounts under it) and a fresh /proc. Must run in the
/// monitor's private mount namespace.
pub fn enter(container_dir: &Path, share_dir: &Path) -> Result<(), JailError> {
    let jail = container_dir.join(JAIL_DIR);
    create_dir_all(&jail)?;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("tmpfs"), &jail, Some("tmpfs"), hardened, Some("mode=0755,size=64k"))
        .map_err(|e| JailError::Mount(jail.clone(), e))?;

    let dir_inside = inside(&jail, container_dir);
    create_dir_all(&dir_inside)?;
    bind(container_dir, &dir_inside, MsFlags::empty())?;
    // The share's rootfs and bind sources are mounts under it.
    bind(share_dir, &inside(&jail, share_dir), MsFlags::MS_REC)?;
    let proc_inside = jail.join("proc");
    create_dir_all(&proc_inside)?;
    mount(Some("proc"), &proc_inside, Some("proc"), hardened, None::<&str>)
        .map_err(|e| JailError::Mount(proc_inside.clone(), e))?;

    let old_root = jail.join(OLD_ROOT);
    create_dir_all(&old_root)?;
    nix::unistd::pivot_root(&jail, &old_root).map_err(|e| JailError::Pivot(jail.clone(), e))?;
    nix::unistd::chdir("/").map_err(|e| JailError::Pivot(jail.clone(), e))?;
    let old_root = Path::new("/").join(OLD_ROOT);
    umount2(&old_root, MntFlags::MNT_DETACH).map_err(JailError::Detach)?;
    let _ = std::fs::remove_dir(&old_root);
    // The jail's own directories are fixed from here on.
    let read_only = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | hardened;
    mount(None::<&str>, "/", None::<&str>, read_only, None::<&str>)
        .map_err(|e| JailError::Mount("/".into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_their_place_inside_the_jail() {
        let jail = Path::new("/run/runvm/c1/jail");
        assert_eq!(
            inside(jail, Path::new("/run/runvm/c1")),
            Path::new("/run/runvm/c1/jail/run/runvm/c1")
        );
        assert_eq!(
            inside(jail, Path::new("relative")),
            Path::new("/run/runvm/c1/jail/relative")
        );
    }
}
