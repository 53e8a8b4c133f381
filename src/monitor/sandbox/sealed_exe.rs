//! The monitor runs from a sealed in-memory copy of this binary, never from
//! its path on disk: a process that gets hold of the monitor (through
//! /proc/PID/exe, say) cannot rewrite the runvm binary the host runs next
//! (the CVE-2019-5736 class), and replacing the file on disk does not
//! change a running monitor. The copy is a memfd with every seal set, so
//! nobody, this process included, can write, grow or shrink it.
//!
//! The binary carries the guest kernel and initramfs (some 30 MiB), so one
//! copy per container would cost that much memory each: a new monitor
//! reuses the copy of a running monitor under the same `--root` when it is
//! sealed and byte for byte this binary, and only the first container
//! there (or the first after an upgrade) makes one.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

/// The seals: no writes, no size change, and no changing the seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Bytes compared at a time when checking a running monitor's copy.
const COMPARE_CHUNK: usize = 1 << 20;

/// A sealed copy of this binary to exec the monitor from (close-on-exec:
/// exec it through /proc/self/fd/N, which the kernel opens before it closes
/// the fd): the one a running monitor in `monitor_pids` runs from, if it is
/// sealed and identical to this binary, else a new one.
pub fn sealed_exe(monitor_pids: impl IntoIterator<Item = i32>) -> io::Result<OwnedFd> {
    let this = File::open("/proc/self/exe")?;
    for pid in monitor_pids {
        if let Some(copy) = identical_sealed_exe_of(pid, &this) {
            return Ok(copy.into());
        }
    }
    sealed_copy_of(&this)
}

/// The executable of `pid` if it is a fully sealed file with the same
/// bytes as `this`; any failure (the process gone, another binary) is a
/// plain no.
fn identical_sealed_exe_of(pid: i32, this: &File) -> Option<File> {
    let exe = File::open(format!("/proc/{pid}/exe")).ok()?;
    // SAFETY: F_GET_SEALS only reads the seals of an fd we own.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & SEALS != SEALS {
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

/// A new sealed memfd holding a copy of `exe` (this binary, read from its
/// start).
fn sealed_copy_of(mut exe: &File) -> io::Result<OwnedFd> {
    // SAFETY: memfd_create takes a NUL-terminated name and flags; it
    // returns a new fd or -1.
    let fd = unsafe {
        libc::memfd_create(
            c"runvm".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is new and owned by nothing else.
    let copy = unsafe { File::from_raw_fd(fd) };
    io::copy(&mut exe, &mut &copy)?;
    // SAFETY: F_ADD_SEALS on a memfd we own, with a constant seal mask.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(copy.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn the_copy_is_this_binary_and_cannot_change() {
        let fd = sealed_copy_of(&File::open("/proc/self/exe").unwrap()).unwrap();
        // SAFETY: F_GET_SEALS only reads the seals of an fd we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & SEALS, SEALS);
        let mut copy = File::from(fd);
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
        let other = tempfile_with(&{
            let mut bytes = std::fs::read("/proc/self/exe").unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            bytes
        });
        assert!(!same_contents(&other, &this).unwrap());
        // With no running monitor, a new copy is made.
        let fresh = File::from(sealed_exe(std::iter::empty()).unwrap());
        assert!(same_contents(&fresh, &this).unwrap());
    }

    fn tempfile_with(bytes: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!("runvm-sealed-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
