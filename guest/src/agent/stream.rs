//! Byte relays between a process's stdio and the host's stream connections.
//!
//! Each relay also watches the process's exit descriptor, which reports
//! hang-up once the process has been reaped. Output relays then drain what
//! is already buffered and stop, even if a process left in the background
//! still holds the pipe or pty open; input relays stop at once.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

const BUFFER: usize = 32 * 1024;

/// Copies `source` (a pipe or pty master) to `sink` until EOF (EIO for a
/// pty whose other end is closed), a failed write, or the drain after exit.
pub fn output(source: &mut File, sink: &mut impl Write, exit: BorrowedFd<'_>) {
    let mut buffer = vec![0u8; BUFFER];
    let mut exited = false;
    loop {
        let timeout = if exited {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        let Some([readable, exit_seen]) = wait([source.as_fd(), exit], timeout) else {
            return;
        };
        if readable {
            match source.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    if sink.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        } else if exited {
            return;
        } else {
            exited = exit_seen;
        }
    }
}

/// Copies `source` (the host's connection) to `sink` (a stdin pipe or pty
/// master) until EOF, a failed write, or the process's exit.
pub fn input(source: &mut (impl Read + AsFd), sink: &mut File, exit: BorrowedFd<'_>) {
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let Some([readable, exit_seen]) = wait([source.as_fd(), exit], PollTimeout::NONE) else {
            return;
        };
        if exit_seen {
            return;
        }
        if readable {
            match source.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    if sink.write_all(&buffer[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// Polls both descriptors for input; returns which are ready (readable,
/// at EOF, hung up or in error), or None if poll itself failed.
fn wait(fds: [BorrowedFd<'_>; 2], timeout: PollTimeout) -> Option<[bool; 2]> {
    let mut polled = fds.map(|fd| PollFd::new(fd, PollFlags::POLLIN));
    loop {
        match poll(&mut polled, timeout) {
            Ok(_) => break,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
    Some(polled.map(|fd| fd.revents().is_some_and(|events| !events.is_empty())))
}
