//! The guest kernel and initramfs built into this binary, and the files
//! that override them.

use std::path::{Path, PathBuf};

/// The guest kernel's command line: console on COM1, reboot through the
/// i8042 (the VMM's reset), never wait after a panic.
macro_rules! cmdline {
    () => {
        "console=ttyS0 reboot=k panic=-1 8250.nr_uarts=1 nomodule"
    };
}
/// The command line of a guest whose console is watched (`runvm boot`).
pub const CMDLINE: &str = cmdline!();
/// The command line of a guest whose console is a log nobody watches:
/// `quiet` spares the guest thousands of serial port exits.
pub const QUIET_CMDLINE: &str = concat!(cmdline!(), " quiet");

/// The guest kernel embedded at build time; empty if there was none.
static EMBEDDED_KERNEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest-kernel"));
/// The guest initramfs embedded at build time; empty if there was none.
static EMBEDDED_INITRAMFS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest-initramfs"));

/// Why a guest image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("no guest {0}: this runvm was built without one; pass --{1} PATH")]
    NotEmbedded(&'static str, &'static str),
    #[error("reading {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
}

/// What the guest boots: kernel, initrd and command line.
pub struct GuestImages {
    pub kernel: Image,
    pub initrd: Option<Image>,
    pub cmdline: String,
    /// Enter an ELF vmlinux through its PVH entry point.
    pub pvh: bool,
}

/// Image bytes, borrowed from the binary or read from a file.
pub enum Image {
    Embedded(&'static [u8]),
    File(Vec<u8>),
}

impl Image {
    /// The image's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Image::Embedded(bytes) => bytes,
            Image::File(bytes) => bytes,
        }
    }

    /// Gives back this process's pages of an embedded image, once it is in
    /// guest RAM: some 20 MiB of a monitor's RSS otherwise. They are the
    /// binary's read-only file pages, which the kernel keeps in its page
    /// cache or reads again should the image ever be read after this.
    fn release(&self) {
        if let Image::Embedded(bytes) = self {
            release_pages(bytes);
        }
    }
}

/// Drops this process's pages wholly inside `bytes`, static data in the
/// binary's read-only file mapping.
fn release_pages(bytes: &'static [u8]) {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|size| usize::try_from(size).ok())
        .unwrap_or(4096);
    let start = bytes.as_ptr() as usize;
    let first = start.next_multiple_of(page);
    let end = (start + bytes.len()) / page * page;
    let Some(pages) = std::ptr::NonNull::new(first as *mut libc::c_void) else {
        return;
    };
    if end <= first {
        return;
    }
    // SAFETY: [first, end) holds whole pages of the static data only, in
    // the binary's read-only mapping, which nothing writes: MADV_DONTNEED
    // drops them from this process and the next read faults the same
    // bytes back in from the file.
    let _ = unsafe {
        nix::sys::mman::madvise(
            pages,
            end - first,
            nix::sys::mman::MmapAdvise::MADV_DONTNEED,
        )
    };
}

impl GuestImages {
    /// Gives back the pages of the embedded images, once the guest holds
    /// them (see [`Image::release`]).
    pub fn release_embedded(&self) {
        self.kernel.release();
        if let Some(initrd) = &self.initrd {
            initrd.release();
        }
    }
}

fn load(
    path: Option<&Path>,
    embedded: &'static [u8],
    what: &'static str,
    flag: &'static str,
) -> Result<Image, ImageError> {
    match path {
        Some(path) => std::fs::read(path)
            .map(Image::File)
            .map_err(|e| ImageError::Read(path.to_path_buf(), e)),
        None if embedded.is_empty() => Err(ImageError::NotEmbedded(what, flag)),
        None => Ok(Image::Embedded(embedded)),
    }
}

/// The kernel at `path`, or the embedded one.
pub fn kernel(path: Option<&Path>) -> Result<Image, ImageError> {
    load(path, EMBEDDED_KERNEL, "kernel", "kernel")
}

/// The initramfs at `path`, or the embedded one.
pub fn initramfs(path: Option<&Path>) -> Result<Image, ImageError> {
    load(path, EMBEDDED_INITRAMFS, "initramfs", "initrd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_the_embedded_image() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("k");
        std::fs::write(&path, b"kernel bytes").unwrap();
        assert_eq!(kernel(Some(&path)).unwrap().bytes(), b"kernel bytes");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = kernel(Some(Path::new("/nonexistent/vmlinux")))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/vmlinux"));
    }

    /// Static data of several pages, none of them zero.
    static PATTERN: [u8; 5 * 4096 + 123] = {
        let mut bytes = [0u8; 5 * 4096 + 123];
        let mut i = 0;
        while i < bytes.len() {
            bytes[i] = (i % 251) as u8 + 1;
            i += 1;
        }
        bytes
    };

    #[test]
    fn released_pages_read_back_the_same() {
        let before = PATTERN.to_vec();
        Image::Embedded(&PATTERN).release();
        // Not assert_eq: a mismatch would print 20 KiB.
        assert!(std::hint::black_box(&PATTERN[..]) == before.as_slice());
    }

    #[test]
    fn nothing_embedded_asks_for_the_flag() {
        let err = load(None, &[], "kernel", "kernel").err().unwrap();
        assert_eq!(
            err.to_string(),
            "no guest kernel: this runvm was built without one; pass --kernel PATH"
        );
    }
}
