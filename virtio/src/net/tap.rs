//! A tap interface: a virtual Ethernet link whose other end is a file
//! descriptor. Frames the host stack sends to the interface are read from
//! the fd; frames written to the fd arrive at the host stack as if received
//! on the interface.

use std::ffi::CStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::{Backend, VNET_HDR_LEN};

nix::ioctl_write_ptr_bad!(tun_set_iff, libc::TUNSETIFF, libc::ifreq);
nix::ioctl_write_int_bad!(tun_set_offload, libc::TUNSETOFFLOAD);
nix::ioctl_write_ptr_bad!(tun_set_vnet_hdr_sz, libc::TUNSETVNETHDRSZ, libc::c_int);

/// The offloads a tap may use in the frames it hands over, all at once:
/// partial checksums, TCPv4/v6 segmentation, UDP fragmentation.
pub(crate) const ALL_OFFLOADS: u32 =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_UFO;

/// Why a tap could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is empty, too long for an interface or has a NUL.
    #[error("invalid tap name {0:?}")]
    Name(String),
    /// `/dev/net/tun` could not be opened.
    #[error("opening /dev/net/tun")]
    Open(#[source] io::Error),
    /// The kernel refused to create the interface.
    #[error("creating tap {0}")]
    Create(String, #[source] io::Error),
    /// The kernel refused the virtio-net header size.
    #[error("setting the virtio-net header size of tap {0}")]
    VnetHdr(String, #[source] io::Error),
}

/// A tap interface in the network namespace of the thread that created it.
///
/// It is not persistent: the interface goes away when the last copy of its
/// fd is closed, so a process that dies leaves no tap behind. Reads and
/// writes carry one frame each, behind a 12-byte virtio-net header; the
/// fd is nonblocking and close-on-exec.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates the tap `name` (at most 15 bytes; `%d` in it is replaced by
    /// the kernel's choice of number), or attaches to an existing one of
    /// that name that nobody has open.
    pub fn open(name: &str) -> Result<Self, TapError> {
        let invalid = || TapError::Name(name.to_owned());
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
            return Err(invalid());
        }
        // std opens with O_CLOEXEC.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/net/tun")
            .map_err(TapError::Open)?;
        // SAFETY: ifreq is plain data, for which all zeroes is valid.
        let mut ifreq: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifreq.ifr_name.iter_mut().zip(bytes) {
            *dst = libc::c_char::from_ne_bytes([*src]);
        }
        // The flags fit a c_short: the kernel reads 16 bits of them.
        ifreq.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR)
            .try_into()
            .map_err(|_| invalid())?;
        // SAFETY: the fd is a tun device; TUNSETIFF reads and writes back
        // the ifreq, which lives across the call.
        unsafe { tun_set_iff(file.as_raw_fd(), &raw const ifreq) }
            .map_err(|e| TapError::Create(name.to_owned(), e.into()))?;
        // The kernel wrote back the name it chose (NUL-terminated: it
        // never uses all IFNAMSIZ bytes).
        let raw: Vec<u8> = ifreq.ifr_name.iter().map(|c| c.to_ne_bytes()[0]).collect();
        let name = CStr::from_bytes_until_nul(&raw)
            .map_err(|_| invalid())?
            .to_string_lossy()
            .into_owned();
        let hdr_len = libc::c_int::try_from(VNET_HDR_LEN).map_err(|_| invalid())?;
        // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which
        // points at `hdr_len`.
        unsafe { tun_set_vnet_hdr_sz(file.as_raw_fd(), &raw const hdr_len) }
            .map_err(|e| TapError::VnetHdr(name.clone(), e.into()))?;
        Ok(Self { file, name })
    }

    /// Another fd on the same tap (the interface stays until both are
    /// closed).
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            file: self.file.try_clone()?,
            name: self.name.clone(),
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's index in the calling thread's network namespace.
    pub fn ifindex(&self) -> io::Result<u32> {
        nix::net::if_::if_nametoindex(self.name.as_str()).map_err(io::Error::from)
    }

    /// Lets the tap hand over frames with the offloads of `flags`
    /// (`TUN_F_*` bits) and no others.
    pub fn set_offload(&self, flags: u32) -> io::Result<()> {
        let flags = libc::c_int::try_from(flags).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        unsafe { tun_set_offload(self.file.as_raw_fd(), flags) }?;
        Ok(())
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Backend for Tap {
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }

    fn write_frame(&mut self, frame: &[u8]) -> io::Result<usize> {
        self.file.write(frame)
    }

    fn set_offload(&mut self, flags: u32) -> io::Result<()> {
        Tap::set_offload(self, flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a thread of its own in a new network namespace (the
    /// tests run as root), so that taps are made and removed there.
    fn in_new_netns(test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("a new network namespace (run the tests as root)");
            test();
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_tap_takes_offloads_and_goes_away_with_its_fd() {
        in_new_netns(|| {
            let tap = Tap::open("rvtest%d").unwrap();
            assert_eq!(tap.name(), "rvtest0");
            let index = tap.ifindex().unwrap();
            assert!(index > 1, "loopback is 1; got {index}");
            tap.set_offload(ALL_OFFLOADS).unwrap();
            tap.set_offload(0).unwrap();
            // TSO without checksum offload is refused by the kernel.
            assert!(tap.set_offload(libc::TUN_F_TSO4).is_err());
            // Nothing to read yet: the fd does not block.
            let mut tap = tap;
            let mut buf = [0u8; 64];
            let err = tap.read_frame(&mut buf).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
            drop(tap);
            assert!(
                nix::net::if_::if_nametoindex("rvtest0").is_err(),
                "the tap outlived its fd"
            );
        });
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["", "a-name-far-too-long", "nul\0"] {
            assert!(
                matches!(Tap::open(name), Err(TapError::Name(_))),
                "{name:?}"
            );
        }
    }
}
