//! Pseudo-terminals for processes with `terminal: true`.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};

/// Both ends of a new pty, close-on-exec.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pty (the equivalent of openpty(3), with close-on-exec set
/// atomically so that no concurrently spawned process inherits it) and
/// sets its window size to `size` (rows, cols) if given. With a container
/// `root`, the pty comes from the container's /dev/ptmx (its devpts), so
/// that the process's tty is one of its /dev/pts; the agent's serves a
/// container without one.
pub fn open(size: Option<(u16, u16)>, root: Option<BorrowedFd>) -> Result<Pty, Errno> {
    if let Some(root) = root {
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY;
        match super::resolve::open_in(root, Path::new("/dev/ptmx"), flags) {
            Ok(master) => return peer(master, size),
            Err(Errno::ENOENT) => {}
            Err(errno) => return Err(errno),
        }
    }
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    // SAFETY: into_raw_fd hands over the descriptor posix_openpt opened; no
    // one else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(master.into_raw_fd()) };
    // std opens with O_CLOEXEC.
    let slave = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name)
        .map_err(|e| super::errno_of(&e))?;
    if let Some((rows, cols)) = size {
        resize(master.as_fd(), rows, cols)?;
    }
    Ok(Pty {
        master,
        slave: slave.into(),
    })
}

/// The pty of `master`, opened from the master itself (TIOCGPTPEER): no
/// path to look up, whichever devpts it is.
fn peer(master: OwnedFd, size: Option<(u16, u16)>) -> Result<Pty, Errno> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, valid for the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    Errno::result(rc)?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value; it touches no
    // memory of ours.
    let slave = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let slave = Errno::result(slave)?;
    // SAFETY: TIOCGPTPEER just returned this descriptor; nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        resize(master.as_fd(), rows, cols)?;
    }
    Ok(Pty { master, slave })
}

/// Sets the window size of the pty whose master is `master`.
pub fn resize(master: BorrowedFd<'_>, rows: u16, cols: u16) -> Result<(), Errno> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid
    // for the duration of the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    Errno::result(rc).map(drop)
}
