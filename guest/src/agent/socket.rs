//! The agent's sockets: a listening vsock socket in the VM, Unix sockets in
//! tests. Both are plain stream sockets, so one pair of types serves both.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    accept4, bind, listen, socket, AddressFamily, Backlog, Shutdown, SockFlag, SockType, VsockAddr,
};

/// ioctl on /dev/vsock that returns this VM's context id (linux/vm_sockets.h).
const IOCTL_VM_SOCKETS_GET_LOCAL_CID: libc::c_ulong = 0x7b9;
/// The host's CID; the ones below it are reserved too.
const VMADDR_CID_HOST: u32 = 2;

/// A listening stream socket.
pub struct Listener(OwnedFd);

impl Listener {
    /// Listens on vsock `port` for connections to any of this VM's CIDs.
    pub fn vsock(port: u32) -> Result<Self, Errno> {
        let fd = socket(
            AddressFamily::Vsock,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        bind(fd.as_raw_fd(), &VsockAddr::new(libc::VMADDR_CID_ANY, port))?;
        listen(&fd, Backlog::new(64)?)?;
        Ok(Listener(fd))
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> Result<Stream, Errno> {
        let fd = accept4(self.0.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?;
        // SAFETY: accept4 just returned this descriptor; no one else owns it.
        Ok(Stream(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

impl From<OwnedFd> for Listener {
    fn from(fd: OwnedFd) -> Self {
        Listener(fd)
    }
}

/// True if the VM has a virtio-vsock device, that is a guest CID (3 and
/// up). Without one, vsock sockets can still be created, bound and even
/// connected (the loopback transport; the kernel then reports CID 1 or
/// VMADDR_CID_ANY), so a successful bind proves nothing.
pub fn vsock_present() -> bool {
    let Ok(dev) = std::fs::File::open("/dev/vsock") else {
        return false;
    };
    let mut cid: u32 = libc::VMADDR_CID_ANY;
    // SAFETY: this ioctl writes one u32 through the pointer, which points
    // to `cid` for the duration of the call.
    let rc = unsafe { libc::ioctl(dev.as_raw_fd(), IOCTL_VM_SOCKETS_GET_LOCAL_CID, &mut cid) };
    rc == 0 && cid > VMADDR_CID_HOST && cid != libc::VMADDR_CID_ANY
}

/// A connected stream socket.
#[derive(Debug)]
pub struct Stream(OwnedFd);

impl Stream {
    pub fn try_clone(&self) -> io::Result<Self> {
        self.0.try_clone().map(Stream)
    }

    /// Ends the connection both ways; the peer reads EOF, and a thread of
    /// ours blocked reading it wakes up with EOF too.
    pub fn shutdown(&self) {
        // Fails only if the peer is already gone, which is what we want.
        let _ = nix::sys::socket::shutdown(self.0.as_raw_fd(), Shutdown::Both);
    }
}

impl From<OwnedFd> for Stream {
    fn from(fd: OwnedFd) -> Self {
        Stream(fd)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        nix::unistd::read(self.0.as_raw_fd(), buf).map_err(io::Error::from)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        nix::unistd::write(&self.0, buf).map_err(io::Error::from)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
