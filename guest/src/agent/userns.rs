//! The container's user namespace, with `linux.uidMappings` and
//! `linux.gidMappings`. A process cannot write its own namespace's maps
//! beyond its own id, and a multithreaded one (the agent) cannot unshare a
//! user namespace at all: a forked child makes it and waits, the agent
//! writes its maps from outside, keeps a descriptor of it, and ends the
//! child. Container processes join it (setns) last among the namespaces,
//! as the ones before need the agent's privileges; so the container's
//! other namespaces stay owned by the guest's initial user namespace.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult};

use super::sys::check;

/// `linux.uidMappings` or `gidMappings` as the kernel's map file takes
/// them: "inside outside count" per line.
pub fn map_text(mappings: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A new user namespace with these maps.
pub fn create(uid_map: &str, gid_map: &str) -> Result<OwnedFd, Errno> {
    let (ready, ready_writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: the child makes only async-signal-safe system calls
    // (unshare, write, pause, _exit) before it is killed.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // SAFETY: plain system calls on integers and a stack buffer.
            unsafe {
                let errno = match check(libc::unshare(libc::CLONE_NEWUSER)) {
                    Ok(()) => 0,
                    Err(errno) => errno,
                };
                let byte = [u8::try_from(errno).unwrap_or(u8::MAX)];
                libc::write(ready_writer.as_raw_fd(), byte.as_ptr().cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        ForkResult::Parent { child } => {
            drop(ready_writer);
            let made = (|| {
                let mut byte = [0u8; 1];
                if nix::unistd::read(ready.as_raw_fd(), &mut byte)? != 1 {
                    return Err(Errno::EIO);
                }
                if byte[0] != 0 {
                    return Err(Errno::from_raw(i32::from(byte[0])));
                }
                let proc = format!("/proc/{child}");
                let errno = |error: std::io::Error| super::errno_of(&error);
                fs::write(format!("{proc}/uid_map"), uid_map).map_err(errno)?;
                fs::write(format!("{proc}/gid_map"), gid_map).map_err(errno)?;
                let namespace = fs::File::open(format!("{proc}/ns/user")).map_err(errno)?;
                Ok(OwnedFd::from(namespace))
            })();
            // The reaper collects it.
            let _ = kill(child, Signal::SIGKILL);
            made
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The maps a process that joins `namespace` sees (a forked child: a
    /// multithreaded process cannot join a user namespace).
    fn maps_seen_in(namespace: &OwnedFd) -> String {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        // SAFETY: the child makes only system calls on stack buffers.
        match unsafe { fork() }.unwrap() {
            // SAFETY: system calls on static paths, stack buffers and
            // descriptors this test holds.
            ForkResult::Child => unsafe {
                if libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWUSER) != 0 {
                    libc::_exit(1);
                }
                for path in [c"/proc/self/uid_map", c"/proc/self/gid_map"] {
                    let mut buffer = [0u8; 256];
                    let fd = libc::open(path.as_ptr(), libc::O_RDONLY);
                    let n = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
                    libc::write(
                        writer.as_raw_fd(),
                        buffer.as_ptr().cast(),
                        n.max(0).unsigned_abs(),
                    );
                }
                libc::_exit(0);
            },
            ForkResult::Parent { child } => {
                drop(writer);
                let seen = fs::read_to_string(format!("/proc/self/fd/{}", reader.as_raw_fd()));
                // The agent's reaper may have collected it first.
                let _ = nix::sys::wait::waitpid(child, None);
                seen.unwrap()
            }
        }
    }

    #[test]
    fn the_namespace_has_the_maps() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: writing another namespace's maps needs root");
            return;
        }
        let uids = map_text(
            &serde_json::from_str::<Vec<_>>(
                r#"[{"containerID": 0, "hostID": 100000, "size": 65536}]"#,
            )
            .unwrap(),
        );
        assert_eq!(uids, "0 100000 65536\n");
        let namespace = create(&uids, "0 200000 1000\n1000 1000 1\n").unwrap();
        let seen: Vec<Vec<String>> = maps_seen_in(&namespace)
            .lines()
            .map(|line| line.split_whitespace().map(str::to_owned).collect())
            .collect();
        assert_eq!(
            seen,
            [
                ["0", "100000", "65536"],
                ["0", "200000", "1000"],
                ["1000", "1000", "1"]
            ]
        );
    }
}
