//! `vmctl`'s file subcommands, for the file system tests and benchmark.
//! They run on either side of a share: on the (test) host, and inside a
//! container (the tests copy vmctl and its libraries into the rootfs,
//! `add_vmctl` in `tests/lib/bundle.sh`).
//!
//! - `vmctl setxattr PATH NAME VALUE`, `vmctl getxattr PATH NAME` (prints
//!   the value and a newline): busybox has no setfattr/getfattr.
//! - `vmctl mmap-write PATH OFFSET TEXT`: writes TEXT into a shared
//!   mapping of the file (which must already reach OFFSET + its length),
//!   then msync(MS_SYNC) and munmap. `vmctl mmap-read PATH OFFSET LEN`
//!   prints LEN bytes read through a shared mapping.
//! - `vmctl seek PATH data|hole OFFSET`: prints lseek's SEEK_DATA or
//!   SEEK_HOLE answer.
//! - `vmctl walk DIR NAME...`: opens DIR, then each NAME with openat(2)
//!   relative to the one before, exactly as given (`..` included, no
//!   symlink followed), and prints where it ended (`at PATH`, from
//!   /proc/self/fd) and, for a regular file, its content.
//! - `vmctl files create|stat|unlink DIR COUNT`: creates (O_CREAT|O_EXCL,
//!   empty), stats or unlinks DIR/f0 .. DIR/f(COUNT-1).
//!
//! A failure prints the call, the path and the OS error (`os error N`)
//! and exits 1.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).with_context(|| format!("{text:?} holds a NUL"))
}

fn os_result(ret: libc::c_int, what: &str) -> Result<()> {
    if ret < 0 {
        return Err(io::Error::last_os_error()).context(what.to_owned());
    }
    Ok(())
}

fn setxattr(path: &str, name: &str, value: &str) -> Result<()> {
    let (c_path, c_name) = (c_string(path)?, c_string(name)?);
    // SAFETY: the strings are NUL-terminated and the value pointer and
    // length describe a live buffer; nothing is kept after the call.
    let ret = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    os_result(ret, &format!("setxattr {path} {name}"))
}

fn getxattr(path: &str, name: &str) -> Result<Vec<u8>> {
    let (c_path, c_name) = (c_string(path)?, c_string(name)?);
    // Linux's XATTR_SIZE_MAX.
    let mut value = vec![0u8; 64 * 1024];
    // SAFETY: the strings are NUL-terminated and the buffer pointer and
    // length describe `value`, which outlives the call.
    let len = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    let len = usize::try_from(len)
        .map_err(|_| io::Error::last_os_error())
        .with_context(|| format!("getxattr {path} {name}"))?;
    value.truncate(len);
    Ok(value)
}

/// A shared mapping of `len` bytes of `file` from `offset`, given to `use_it`
/// and unmapped after it (with msync(MS_SYNC) first when `writable`).
fn with_mapping<T>(
    file: &File,
    offset: u64,
    len: usize,
    writable: bool,
    use_it: impl FnOnce(&mut [u8]) -> T,
) -> Result<T> {
    if len == 0 {
        bail!("nothing to map");
    }
    let size = file.metadata().context("fstat")?.len();
    let end = offset
        .checked_add(len as u64)
        .context("offset + length overflows")?;
    if end > size {
        bail!("the file is {size} bytes, short of {end}: mapping past its end would fault");
    }
    // SAFETY: sysconf takes no pointers.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).context("page size")?;
    let map_offset = offset - offset % page;
    let lead = usize::try_from(offset - map_offset)?;
    let map_len = lead + len;
    let prot = if writable {
        libc::PROT_READ | libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    // SAFETY: a fresh shared mapping of an open file at a page-aligned
    // offset; it is only touched through the slice below, within map_len,
    // and unmapped before returning.
    let address = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            prot,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            libc::off_t::try_from(map_offset)?,
        )
    };
    if address == libc::MAP_FAILED {
        return Err(io::Error::last_os_error()).context("mmap");
    }
    // SAFETY: the mapping is map_len bytes, readable (and writable when
    // asked), and nothing else refers to it while the slice lives.
    let bytes = unsafe { std::slice::from_raw_parts_mut(address.cast::<u8>(), map_len) };
    let result = use_it(&mut bytes[lead..]);
    let synced = if writable {
        // SAFETY: the mapping made above, no longer borrowed.
        let ret = unsafe { libc::msync(address, map_len, libc::MS_SYNC) };
        os_result(ret, "msync")
    } else {
        Ok(())
    };
    // SAFETY: the mapping made above; the slice is gone.
    let unmapped = os_result(unsafe { libc::munmap(address, map_len) }, "munmap");
    synced.and(unmapped)?;
    Ok(result)
}

fn mmap_write(path: &str, offset: u64, text: &str) -> Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {path} read-write"))?;
    with_mapping(&file, offset, text.len(), true, |bytes| {
        bytes.copy_from_slice(text.as_bytes());
    })
}

fn mmap_read(path: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
    let file = File::open(path).with_context(|| format!("opening {path}"))?;
    with_mapping(&file, offset, len, false, |bytes| bytes.to_vec())
}

fn seek(path: &str, whence: &str, offset: u64) -> Result<u64> {
    let whence = match whence {
        "data" => libc::SEEK_DATA,
        "hole" => libc::SEEK_HOLE,
        other => bail!("seek {other}: data or hole"),
    };
    let file = File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: lseek on an open fd takes no pointers.
    let at = unsafe { libc::lseek(file.as_raw_fd(), libc::off_t::try_from(offset)?, whence) };
    u64::try_from(at)
        .map_err(|_| io::Error::last_os_error())
        .with_context(|| format!("lseek {path} {offset}"))
}

/// openat(2) of `name` exactly as given, relative to `dir`, following no
/// symlink.
fn open_at(dir: &OwnedFd, name: &str) -> Result<OwnedFd> {
    let c_name = c_string(name)?;
    // SAFETY: dir is an open fd and c_name NUL-terminated; the new fd, if
    // any, is owned by the OwnedFd below.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            c_name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("openat {name:?}"));
    }
    // SAFETY: fd was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn walk(start: &str, names: &[String]) -> Result<()> {
    let mut fd = OwnedFd::from(File::open(start).with_context(|| format!("opening {start}"))?);
    for name in names {
        fd = open_at(&fd, name)?;
    }
    let at = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .context("reading where the fd is")?;
    println!("at {}", at.display());
    let mut file = File::from(fd);
    if file.metadata().context("fstat")?.is_file() {
        let mut content = Vec::new();
        file.read_to_end(&mut content).context("reading")?;
        io::stdout().write_all(&content)?;
    }
    Ok(())
}

fn files(op: &str, dir: &str, count: u32) -> Result<()> {
    let path = |i: u32| -> PathBuf { Path::new(dir).join(format!("f{i}")) };
    for i in 0..count {
        let file = path(i);
        let done = match op {
            "create" => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .map(drop),
            "stat" => std::fs::symlink_metadata(&file).map(drop),
            "unlink" => std::fs::remove_file(&file),
            other => bail!("files {other}: create, stat or unlink"),
        };
        done.with_context(|| format!("{op} {}", file.display()))?;
    }
    Ok(())
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .ok()
        .with_context(|| format!("{s:?} is not a number in range"))
}

fn print_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout();
    out.write_all(bytes)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs a file subcommand; `None` if `args` is not one.
pub fn run(args: &[String]) -> Option<Result<()>> {
    let result = match args {
        [verb, path, name, value] if verb == "setxattr" => setxattr(path, name, value),
        [verb, path, name] if verb == "getxattr" => {
            getxattr(path, name).and_then(|v| print_bytes(&v))
        }
        [verb, path, offset, text] if verb == "mmap-write" => {
            number(offset).and_then(|offset| mmap_write(path, offset, text))
        }
        [verb, path, offset, len] if verb == "mmap-read" => (|| {
            let bytes = mmap_read(path, number(offset)?, number(len)?)?;
            print_bytes(&bytes)
        })(),
        [verb, path, whence, offset] if verb == "seek" => (|| {
            println!("{}", seek(path, whence, number(offset)?)?);
            Ok(())
        })(),
        [verb, start, names @ ..] if verb == "walk" => walk(start, names),
        [verb, op, dir, count] if verb == "files" => number(count).and_then(|n| files(op, dir, n)),
        _ => return None,
    };
    Some(result)
}

/// The usage line of the file subcommands.
pub const USAGE: &str = "vmctl setxattr PATH NAME VALUE | vmctl getxattr PATH NAME | \
    vmctl mmap-write PATH OFFSET TEXT | vmctl mmap-read PATH OFFSET LEN | \
    vmctl seek PATH data|hole OFFSET | vmctl walk DIR NAME... | \
    vmctl files create|stat|unlink DIR COUNT";
