//! Unix socket paths of any length. A socket address holds at most 107
//! bytes of path (`sun_path`), and a runtime's state directory can be
//! longer than that on its own (docker's `--root` plus a 64-character
//! container id). So a socket is bound and connected through an fd on
//! its directory: `/proc/self/fd/<fd>/<name>` is short whatever the
//! directory's path, and the kernel resolves it to the same file.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// A Unix socket's path, reachable through an fd on its directory for as
/// long as this value lives.
#[derive(Debug)]
pub struct SocketPath {
    path: PathBuf,
    /// Keeps [`Self::address`] valid.
    _dir: OwnedFd,
    address: PathBuf,
}

impl SocketPath {
    /// Opens the directory of the socket at `path` (which need not exist).
    pub fn new(path: &Path) -> io::Result<Self> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let dir: OwnedFd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(dir)?
            .into();
        let address = Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name);
        Ok(Self {
            path: path.to_path_buf(),
            _dir: dir,
            address,
        })
    }

    /// The socket's real path, for messages and for removing it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path to the socket short enough to bind or connect.
    pub fn address(&self) -> &Path {
        &self.address
    }

    /// [`Self::address`] with `suffix` appended to the socket's name.
    pub fn address_with_suffix(&self, suffix: &str) -> PathBuf {
        let mut address = OsString::from(self.address.as_os_str());
        address.push(suffix);
        address.into()
    }

    /// Listens at the socket's path.
    pub fn bind(&self) -> io::Result<UnixListener> {
        UnixListener::bind(&self.address)
    }

    /// Connects to the socket.
    pub fn connect(&self) -> io::Result<UnixStream> {
        UnixStream::connect(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A directory whose path alone is longer than a socket address.
    /// (The temporary directory to keep, the deep one inside it.)
    fn deep_dir() -> (tempfile::TempDir, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let dir = top.path().join("x".repeat(120)).join("y".repeat(80));
        std::fs::create_dir_all(&dir).unwrap();
        (top, dir)
    }

    #[test]
    fn binds_and_connects_below_a_long_directory() {
        let (_top, dir) = deep_dir();
        let path = dir.join("s.sock");
        assert!(path.as_os_str().len() > 200);
        assert!(
            UnixListener::bind(&path).is_err(),
            "the plain path is too long"
        );
        let listener = SocketPath::new(&path).unwrap().bind().unwrap();
        assert!(path.exists(), "the socket is at its real path");
        let mut client = SocketPath::new(&path).unwrap().connect().unwrap();
        client.write_all(b"hi").unwrap();
        let mut buf = [0; 2];
        listener.accept().unwrap().0.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn suffixed_address_names_a_sibling() {
        let (_top, dir) = deep_dir();
        let socket = SocketPath::new(&dir.join("v.sock")).unwrap();
        let _listener = UnixListener::bind(socket.address_with_suffix("_52")).unwrap();
        assert!(dir.join("v.sock_52").exists());
        assert_eq!(socket.path(), dir.join("v.sock"));
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        assert!(SocketPath::new(Path::new("/nonexistent/dir/s.sock")).is_err());
        assert!(SocketPath::new(Path::new("/")).is_err());
    }
}
