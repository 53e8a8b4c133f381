//! System-call helpers safe between fork and exec: no allocation, no
//! locks. A leaf module: it imports nothing of the agent's.

use std::ffi::CStr;

use nix::errno::Errno;

/// The errno of a failed system call's return value `rc`; reading errno
/// does not allocate.
pub fn check(rc: i32) -> Result<(), i32> {
    if rc < 0 {
        Err(Errno::last_raw())
    } else {
        Ok(())
    }
}

/// Whether `path` exists and is a directory, without following a symlink
/// at its end; None if it does not exist.
pub fn is_dir(path: &CStr) -> Result<Option<bool>, i32> {
    // SAFETY: a plain struct of integers, for lstat to fill.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: lstat reads the NUL-terminated path and writes `stat`, both
    // alive for the call.
    if unsafe { libc::lstat(path.as_ptr(), &mut stat) } < 0 {
        let errno = Errno::last_raw();
        return if errno == libc::ENOENT {
            Ok(None)
        } else {
            Err(errno)
        };
    }
    Ok(Some(stat.st_mode & libc::S_IFMT == libc::S_IFDIR))
}

/// mount(2) with optional strings.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), i32> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: mount reads the NUL-terminated strings (or takes null), all
    // alive for the call.
    check(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    })
}
