//! The monitor never runs from a writable path to this binary: a process
//! that gets hold of the monitor (through /proc/PID/exe, say) must not be
//! able to rewrite the runvm binary the host runs next (the CVE-2019-5736
//! class), and replacing the file on disk must not change a running
//! monitor.
//!
//! The monitor is exec'd from a read-only overlayfs over this binary's
//! directory, as runc 1.2 does: a detached mount (fsopen, fsmount; never
//! attached anywhere) with no upper layer, so the file it shows cannot be
//! opened for writing (EROFS), and unlike a read-only bind mount there is
//! nothing to remount writable. It costs no copy and no memory: the
//! monitor's pages are the page cache of the file on disk, shared by every
//! monitor. Replacing the binary (a rename, as install, dpkg and cargo do)
//! leaves running monitors on the old file. Writing into the file in place
//! (`cp` over it) does change them, where a plain exec would have made that
//! write fail with ETXTBSY: overlayfs does not pass the exec's write denial
//! down to the file below.
//!
//! Where overlayfs cannot be mounted (no privilege, no overlay support),
//! the monitor runs from a sealed in-memory copy instead: a memfd with
//! every seal set, so nobody, this process included, can write, grow or
//! shrink it. The binary carries the guest kernel and initramfs (some 30
//! MiB), so a new monitor reuses the copy of a running monitor under the
//! same `--root` when it is sealed and byte for byte this binary.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use rustix::mount::{
    fsconfig_create, fsconfig_set_string, fsmount, fsopen, FsMountFlags, FsOpenFlags,
    MountAttrFlags,
};

/// The seals: no writes, no size change, and no changing the seals.
const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// Bytes compared at a time when checking a running monitor's copy.
const COMPARE_CHUNK: usize = 1 << 20;

/// This binary, opened where it cannot be written, to exec the monitor
/// from (close-on-exec: exec it through /proc/self/fd/N, which the kernel
/// opens before it closes the fd). `spare_dir` is any existing directory
/// (the `--root`): overlayfs needs a second lower layer to mount without an
/// upper one, and this binary's directory, above it, hides its files.
/// Without overlayfs: the sealed copy a running monitor in `monitor_pids`
/// runs from, if it is identical to this binary, else a new one.
pub fn sealed_exe(
    spare_dir: &Path,
    monitor_pids: impl IntoIterator<Item = i32>,
) -> io::Result<OwnedFd> {
    match read_only_overlay_exe(spare_dir) {
        Ok(exe) => return Ok(exe),
        Err(e) => tracing::debug!("no read-only overlay for the monitor ({e}): a sealed copy"),
    }
    let this = File::open("/proc/self/exe")?;
    for pid in monitor_pids {
        if let Some(copy) = identical_sealed_exe_of(pid, &this) {
            return Ok(copy.into());
        }
    }
    sealed_copy_of(&this)
}

/// This binary as seen through a new detached read-only overlayfs whose
/// lower layers are its directory and, under it, `spare_dir`.
fn read_only_overlay_exe(spare_dir: &Path) -> io::Result<OwnedFd> {
    let this = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (this.parent(), this.file_name()) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    // A binary deleted or replaced since this process started: its path
    // names another file or none.
    if this.as_os_str().as_bytes().ends_with(b" (deleted)") {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    let context = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let lower = [lower_dir_escaped(dir), lower_dir_escaped(spare_dir)].join(&b':');
    fsconfig_set_string(&context, "lowerdir", lower.as_slice())?;
    // Inode number mapping is of no use here, and where the layers are on
    // different file systems the kernel would log about it.
    let _ = fsconfig_set_string(&context, "xino", "off");
    fsconfig_create(&context)?;
    let mount = fsmount(
        &context,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV,
    )?;
    let exe = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(Path::new(&format!("/proc/self/fd/{}", mount.as_raw_fd())).join(name))?;
    Ok(exe.into())
}

/// `dir` as one entry of overlayfs's `lowerdir` list, whose separator is
/// `:` and escape `\`.
fn lower_dir_escaped(dir: &Path) -> Vec<u8> {
    let mut escaped = Vec::new();
    for &byte in dir.as_os_str().as_bytes() {
        if byte == b':' || byte == b'\\' {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    escaped
}

/// The executable of `pid` if it is a fully sealed file with the same
/// bytes as `this`; any failure (the process gone, another binary) is a
/// plain no.
fn identical_sealed_exe_of(pid: i32, this: &File) -> Option<File> {
    let exe = File::open(format!("/proc/{pid}/exe")).ok()?;
    if !seals(&exe).ok()?.contains(SEALS) {
        return None;
    }
    same_contents(&exe, this).ok()?.then_some(exe)
}

/// Whether `a` and `b` hold the same bytes.
fn same_contents(a: &File, b: &File) -> io::Result<bool> {
    let len = a.metadata()?.len();
    if len != b.metadata()?.len() {
        return Ok(false);
    }
    let (mut left, mut right) = (vec![0u8; COMPARE_CHUNK], vec![0u8; COMPARE_CHUNK]);
    let mut offset = 0u64;
    while offset < len {
        let n = usize::try_from(len - offset).map_or(COMPARE_CHUNK, |rest| rest.min(COMPARE_CHUNK));
        a.read_exact_at(&mut left[..n], offset)?;
        b.read_exact_at(&mut right[..n], offset)?;
        if left[..n] != right[..n] {
            return Ok(false);
        }
        offset += n as u64;
    }
    Ok(true)
}

/// The seals set on `file`.
fn seals(file: &File) -> io::Result<SealFlag> {
    let bits = fcntl(file.as_raw_fd(), FcntlArg::F_GET_SEALS)?;
    Ok(SealFlag::from_bits_retain(bits))
}

/// A new sealed memfd holding a copy of `exe` (this binary, read from its
/// start).
fn sealed_copy_of(mut exe: &File) -> io::Result<OwnedFd> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let copy = File::from(memfd_create(c"runvm", flags)?);
    io::copy(&mut exe, &mut &copy)?;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(SEALS))?;
    Ok(copy.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn the_copy_is_this_binary_and_cannot_change() {
        let fd = sealed_copy_of(&File::open("/proc/self/exe").unwrap()).unwrap();
        let mut copy = File::from(fd);
        assert!(seals(&copy).unwrap().contains(SEALS));
        copy.rewind().unwrap();
        let mut bytes = Vec::new();
        copy.read_to_end(&mut bytes).unwrap();
        // Not assert_eq: a mismatch would print megabytes.
        assert!(
            bytes == std::fs::read("/proc/self/exe").unwrap(),
            "the copy differs"
        );
        copy.rewind().unwrap();
        let write = copy.write(b"\x7fELF");
        assert_eq!(write.unwrap_err().raw_os_error(), Some(libc::EPERM));
        let shrink = copy.set_len(0);
        assert_eq!(shrink.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }

    #[test]
    fn only_a_sealed_identical_copy_is_reused() {
        let this = File::open("/proc/self/exe").unwrap();
        let copy = File::from(sealed_copy_of(&this).unwrap());
        assert!(same_contents(&copy, &this).unwrap());
        // This test binary runs from disk, unsealed: it is not reused.
        assert!(identical_sealed_exe_of(std::process::id() as i32, &this).is_none());
        // A process that does not exist is no candidate either.
        assert!(identical_sealed_exe_of(i32::MAX, &this).is_none());
        // Other bytes of the same length are not the same binary.
        let mut other = tempfile::tempfile().unwrap();
        other
            .write_all(&{
                let mut bytes = std::fs::read("/proc/self/exe").unwrap();
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                bytes
            })
            .unwrap();
        assert!(!same_contents(&other, &this).unwrap());
    }

    #[test]
    fn the_overlay_shows_this_binary_read_only() {
        // Needs root (fsopen of overlayfs), as the tests run.
        let spare = tempfile::tempdir().unwrap();
        // A file of this binary's name in the spare layer does not hide it.
        let this_path = std::fs::read_link("/proc/self/exe").unwrap();
        std::fs::write(spare.path().join(this_path.file_name().unwrap()), b"decoy").unwrap();
        let exe = File::from(read_only_overlay_exe(spare.path()).unwrap());
        let this = File::open("/proc/self/exe").unwrap();
        assert!(
            same_contents(&exe, &this).unwrap(),
            "the overlay shows another file"
        );
        // Neither the fd nor the path /proc/PID/exe would give can be
        // opened for writing.
        let reopened = std::fs::OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{}", exe.as_raw_fd()));
        assert_eq!(reopened.unwrap_err().raw_os_error(), Some(libc::EROFS));
        // sealed_exe takes the overlay: no sealed copy.
        let chosen = File::from(sealed_exe(spare.path(), std::iter::empty()).unwrap());
        assert_eq!(
            fcntl(chosen.as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap_err(),
            nix::errno::Errno::EINVAL,
            "sealed_exe made a memfd copy though overlayfs works"
        );
    }

    #[test]
    fn lower_dirs_escape_the_list_separator() {
        assert_eq!(lower_dir_escaped(Path::new("/usr/bin")), b"/usr/bin");
        assert_eq!(lower_dir_escaped(Path::new(r"/a:b\c")), br"/a\:b\\c");
    }
}
