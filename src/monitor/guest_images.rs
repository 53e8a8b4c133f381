//! The guest kernel and initramfs built into this binary, and the files
//! that override them.

use std::path::{Path, PathBuf};

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
        let dir = std::env::temp_dir().join(format!("runvm-images-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        std::fs::write(&path, b"kernel bytes").unwrap();
        assert_eq!(kernel(Some(&path)).unwrap().bytes(), b"kernel bytes");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = kernel(Some(Path::new("/nonexistent/vmlinux")))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/nonexistent/vmlinux"));
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
