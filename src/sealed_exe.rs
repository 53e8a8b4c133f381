//! The monitor runs from a sealed in-memory copy of this binary, never from
//! its path on disk: a process that gets hold of the monitor (through
//! /proc/PID/exe, say) cannot rewrite the runvm binary the host runs next
//! (the CVE-2019-5736 class), and replacing the file on disk does not
//! change a running monitor. The copy is a memfd with every seal set, so
//! nobody, this process included, can write, grow or shrink it.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// The seals: no writes, no size change, and no changing the seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// A sealed memfd holding a copy of the running binary (close-on-exec:
/// exec it through /proc/self/fd/N, which the kernel opens before it closes
/// the fd).
pub fn sealed_copy_of_self() -> io::Result<OwnedFd> {
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
    let mut exe = File::open("/proc/self/exe")?;
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
    use std::os::fd::AsRawFd;

    #[test]
    fn the_copy_is_this_binary_and_cannot_change() {
        let fd = sealed_copy_of_self().unwrap();
        // SAFETY: F_GET_SEALS only reads the seals of an fd we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        assert_eq!(seals & SEALS, SEALS);
        let mut copy = File::from(fd);
        copy.rewind().unwrap();
        let mut bytes = Vec::new();
        copy.read_to_end(&mut bytes).unwrap();
        // Not assert_eq: a mismatch would print megabytes.
        assert!(bytes == std::fs::read("/proc/self/exe").unwrap(), "the copy differs");
        copy.rewind().unwrap();
        let write = copy.write(b"\x7fELF");
        assert_eq!(write.unwrap_err().raw_os_error(), Some(libc::EPERM));
        let shrink = copy.set_len(0);
        assert_eq!(shrink.unwrap_err().raw_os_error(), Some(libc::EPERM));
    }
}
