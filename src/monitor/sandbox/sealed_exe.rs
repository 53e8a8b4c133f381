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
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// The seals: no writes, no size change, and no changing the seals.
const SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

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
        // With no running monitor, a new copy is made.
        let fresh = File::from(sealed_exe(std::iter::empty()).unwrap());
        assert!(same_contents(&fresh, &this).unwrap());
    }
}
