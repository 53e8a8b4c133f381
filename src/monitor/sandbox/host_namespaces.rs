//! The monitor mirrors the container's namespaces on the host where the
//! host can have them, so that tools following the state's `pid` (`nsenter
//! -t PID`, hooks reading `/proc/PID/ns/*`) find the container's, as they
//! would find runc's init there. The network namespace is
//! [`super::netns`]'s; this module unshares a UTS, an IPC and a cgroup
//! namespace when the spec asks for a new one, and gives the UTS
//! namespace the spec's hostname and domain name. The PID, user, mount
//! and time namespaces stay the guest kernel's only: a PID or time
//! namespace would be the monitor's children's, a user namespace would
//! cost the monitor its host privileges (KVM, cgroups, taps), and the
//! monitor's mount namespace is its private one already.
//!
//! Namespace paths other than the network's are refused at `create`
//! (`bundle::namespaces`), but for a pod member's, which name the UTS and
//! IPC namespaces of the pod's first container: the member's host process
//! joins those ([`join_paths`]), as runc's init would.

use std::fs::File;

use nix::errno::Errno;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The namespaces mirrored, each with its name in /proc.
const MIRRORED: [(LinuxNamespaceType, CloneFlags, &str); 3] = [
    (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS, "uts"),
    (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
    (
        LinuxNamespaceType::Cgroup,
        CloneFlags::CLONE_NEWCGROUP,
        "cgroup",
    ),
];

/// Why the monitor could not mirror the container's namespaces.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("opening the monitor's own {0} namespace")]
    Own(&'static str, #[source] std::io::Error),
    #[error("joining the {} namespace at {}", .0, .1.display())]
    Join(&'static str, std::path::PathBuf, #[source] std::io::Error),
    #[error("creating the container's namespaces on the host")]
    Unshare(#[source] Errno),
    #[error("setting the hostname {0:?}")]
    Hostname(String, #[source] Errno),
    #[error("setting the domain name {0:?}")]
    Domainname(String, #[source] Errno),
}

/// The namespaces of [`MIRRORED`] that `spec` asks to be new.
fn wanted(spec: &Spec) -> Vec<(LinuxNamespaceType, CloneFlags, &'static str)> {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    MIRRORED
        .into_iter()
        .filter(|(kind, _, _)| {
            list.into_iter().flatten().any(|ns| {
                ns.typ() == *kind && ns.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        })
        .collect()
}

/// Moves the calling process into the UTS and IPC namespaces whose paths
/// `spec` names (a pod member's: its first container's), and returns the
/// namespaces it left, as [`enter`] does. Same conditions as [`enter`].
pub fn join_paths(spec: &Spec) -> Result<Vec<File>, MirrorError> {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mut left = Vec::new();
    for (kind, flag, name) in &MIRRORED[..2] {
        let path = list
            .into_iter()
            .flatten()
            .find(|ns| ns.typ() == *kind)
            .and_then(|ns| ns.path().clone())
            .filter(|p| !p.as_os_str().is_empty());
        let Some(path) = path else {
            continue;
        };
        let own = format!("/proc/thread-self/ns/{name}");
        left.push(File::open(own).map_err(|e| MirrorError::Own(name, e))?);
        File::open(&path)
            .and_then(|target| nix::sched::setns(&target, *flag).map_err(std::io::Error::from))
            .map_err(|e| MirrorError::Join(name, path.clone(), e))?;
    }
    Ok(left)
}

/// Moves the calling process into a new UTS, IPC and cgroup namespace as
/// `spec` asks, names the UTS one, and returns the namespaces it left:
/// the runtime's, where the host's hooks run. Call it while the process
/// has one thread (unshare is the calling thread's only otherwise), and
/// after joining the host cgroup: a new cgroup namespace is rooted at the
/// cgroup the process is in.
pub fn enter(spec: &Spec) -> Result<Vec<File>, MirrorError> {
    let wanted = wanted(spec);
    let mut left = Vec::new();
    let mut flags = CloneFlags::empty();
    for (_, flag, name) in &wanted {
        let own = format!("/proc/thread-self/ns/{name}");
        left.push(File::open(own).map_err(|e| MirrorError::Own(name, e))?);
        flags |= *flag;
    }
    if flags.is_empty() {
        return Ok(left);
    }
    nix::sched::unshare(flags).map_err(MirrorError::Unshare)?;
    if flags.contains(CloneFlags::CLONE_NEWUTS) {
        // As runc: an absent or empty name leaves the one inherited.
        if let Some(hostname) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(hostname)
                .map_err(|e| MirrorError::Hostname(hostname.into(), e))?;
        }
        if let Some(domainname) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            // SAFETY: the pointer and length describe the live bytes of
            // `domainname`; the kernel only reads them. nix has no wrapper.
            let rc = unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) };
            Errno::result(rc).map_err(|e| MirrorError::Domainname(domainname.into(), e))?;
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "hostname": "mirrored",
            "domainname": "example.test",
            "linux": {"namespaces": namespaces}
        }))
        .unwrap()
    }

    #[test]
    fn only_new_uts_ipc_and_cgroup_namespaces_are_mirrored() {
        let all = spec(serde_json::json!([
            {"type": "pid"}, {"type": "network"}, {"type": "uts"},
            {"type": "ipc", "path": ""}, {"type": "cgroup"}, {"type": "mount"}
        ]));
        let names: Vec<_> = wanted(&all).into_iter().map(|(_, _, n)| n).collect();
        assert_eq!(names, ["uts", "ipc", "cgroup"]);
        let joined = spec(serde_json::json!([{"type": "uts", "path": "/proc/1/ns/uts"}]));
        assert!(wanted(&joined).is_empty());
        assert!(wanted(&spec(serde_json::json!([{"type": "network"}]))).is_empty());
    }

    #[test]
    fn the_new_uts_namespace_gets_the_spec_names_and_the_old_ones_are_kept() {
        let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
        // On a thread of its own: the namespaces it enters are its only.
        let result = std::thread::spawn(|| {
            let left = enter(&spec(serde_json::json!([{"type": "uts"}, {"type": "ipc"}])))?;
            let uts = std::fs::read_link("/proc/thread-self/ns/uts").unwrap();
            let name = nix::unistd::gethostname().unwrap();
            let domain = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
            Ok::<_, MirrorError>((left.len(), uts, name, domain))
        })
        .join()
        .unwrap();
        match result {
            Ok((left, uts, name, domain)) => {
                assert_eq!(left, 2);
                assert_ne!(uts, host_uts);
                assert_eq!(name, "mirrored");
                assert_eq!(domain.trim(), "example.test");
            }
            // Not root (unshare needs CAP_SYS_ADMIN): nothing to check.
            Err(MirrorError::Unshare(Errno::EPERM)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}
