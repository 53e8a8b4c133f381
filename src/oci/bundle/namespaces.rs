//! Namespace paths (`linux.namespaces[].path`): which ones runvm joins,
//! and which it refuses at `create`, before anything is made.
//!
//! The container runs in a VM: its namespaces are the guest kernel's, and
//! no host namespace can be joined from there. One host namespace means
//! something to a VM: a network namespace, whose interfaces become the
//! VM's (see [`super::network`]). So, for each path:
//!
//! - the namespace there must be of the type the spec names
//!   (`NS_GET_NSTYPE`);
//! - a network, IPC or UTS namespace of a runvm container running under
//!   the same `--root` (whose monitor mirrors those namespaces on the
//!   host; a pod member's host process joins them) makes the new container
//!   a **pod member** of that container's VM: it runs there, sharing the
//!   VM's network and, as named, the first container's IPC and UTS
//!   namespaces. All such paths must name one container, the network one
//!   among them; its other namespace types cannot be shared;
//! - a network namespace where a runvm monitor of another `--root` lives
//!   is refused: two VMs cannot share one network;
//! - the runtime's own network namespace is the host's network stack,
//!   which a VM cannot share;
//! - any other network namespace is joined by the monitor: the container's
//!   network;
//! - any other path names a host namespace, which the VM cannot join.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::BundleError;
use crate::container::{Container, Status};

// NS_GET_NSTYPE (linux/nsfs.h): the CLONE_NEW* flag of a namespace fd.
nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

/// A namespace type of the spec: its CLONE_NEW* flag, its name in
/// /proc/PID/ns and its name in config.json.
struct Kind {
    typ: LinuxNamespaceType,
    flag: libc::c_int,
    proc_name: &'static str,
    spec_name: &'static str,
}

const fn kind(
    typ: LinuxNamespaceType,
    flag: libc::c_int,
    proc_name: &'static str,
    spec_name: &'static str,
) -> Kind {
    Kind {
        typ,
        flag,
        proc_name,
        spec_name,
    }
}

const KINDS: [Kind; 8] = [
    kind(
        LinuxNamespaceType::Network,
        libc::CLONE_NEWNET,
        "net",
        "network",
    ),
    kind(LinuxNamespaceType::Mount, libc::CLONE_NEWNS, "mnt", "mount"),
    kind(LinuxNamespaceType::Ipc, libc::CLONE_NEWIPC, "ipc", "ipc"),
    kind(LinuxNamespaceType::Uts, libc::CLONE_NEWUTS, "uts", "uts"),
    kind(LinuxNamespaceType::Pid, libc::CLONE_NEWPID, "pid", "pid"),
    kind(
        LinuxNamespaceType::User,
        libc::CLONE_NEWUSER,
        "user",
        "user",
    ),
    kind(
        LinuxNamespaceType::Cgroup,
        libc::CLONE_NEWCGROUP,
        "cgroup",
        "cgroup",
    ),
    kind(
        LinuxNamespaceType::Time,
        libc::CLONE_NEWTIME,
        "time",
        "time",
    ),
];

/// Why a namespace path is refused.
#[derive(Debug, thiserror::Error)]
pub enum PathProblem {
    #[error("opening {}", .0.display())]
    Open(PathBuf, #[source] std::io::Error),
    #[error("{} is not a namespace", .0.display())]
    NotNamespace(PathBuf),
    #[error("{} is a namespace of type {found}, not {wanted}", path.display())]
    WrongType {
        path: PathBuf,
        found: &'static str,
        wanted: &'static str,
    },
    #[error(
        "{} is the {kind} namespace of the runvm container {id}: a pod member shares only \
         the network, IPC and UTS namespaces of the container whose VM it runs in",
        path.display()
    )]
    NotShareable {
        path: PathBuf,
        kind: &'static str,
        id: String,
    },
    #[error(
        "{} is a namespace of the runvm container {found}, but another path names {first}'s: \
         a pod member runs in one container's VM",
        path.display()
    )]
    TwoPods {
        path: PathBuf,
        first: String,
        found: String,
    },
    #[error(
        "the spec joins namespaces of the runvm container {0} but not its network namespace: \
         a pod member runs in that container's VM and shares its network"
    )]
    MemberNetwork(String),
    #[error(
        "{} is the network namespace of a runvm container under another --root: two VMs \
         cannot share a network (a pod's containers share one --root)",
        .0.display()
    )]
    OtherRoot(PathBuf),
    #[error(
        "{} is the runtime's own network namespace: a VM cannot share the host's network \
         stack (give the container a network namespace of its own)",
        .0.display()
    )]
    HostNetwork(PathBuf),
    #[error(
        "{} is a host namespace of type {kind}, which the VM cannot join: the container's \
         {kind} namespace is its guest kernel's (only a network namespace path is joined, as \
         the VM's network)",
        path.display()
    )]
    Host { path: PathBuf, kind: &'static str },
}

/// A namespace's identity: the nsfs device and inode.
type NamespaceId = (u64, u64);

fn id_of(metadata: &std::fs::Metadata) -> NamespaceId {
    (metadata.dev(), metadata.ino())
}

/// The namespace `pid` is in, of the kind named `proc_name` in /proc.
fn namespace_of(pid: &str, proc_name: &str) -> Option<NamespaceId> {
    std::fs::metadata(format!("/proc/{pid}/ns/{proc_name}"))
        .ok()
        .map(|m| id_of(&m))
}

/// What a namespace path names, once accepted.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// A network namespace for the container's VM.
    Network,
    /// A namespace of the runvm container with this id: the container is
    /// a member of its pod.
    Pod(String),
}

/// Checks every namespace path of `spec` against the rule above;
/// `root` is where runvm keeps its containers (`--root`). Returns the id
/// of the container whose pod the spec joins, if it does.
pub fn check_paths(spec: &Spec, root: &Path) -> Result<Option<String>, BundleError> {
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let field = |index: usize| format!("linux.namespaces[{index}].path");
    let mut pod: Option<String> = None;
    let mut network_named = false;
    for (index, namespace) in list.into_iter().flatten().enumerate() {
        let Some(path) = namespace
            .path()
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        else {
            continue;
        };
        let problem = |problem| BundleError::NamespacePath {
            field: field(index),
            problem,
        };
        let Named::Pod(owner) = check_path(namespace.typ(), path, root).map_err(problem)? else {
            continue;
        };
        network_named |= namespace.typ() == LinuxNamespaceType::Network;
        match &pod {
            Some(first) if *first != owner => {
                return Err(problem(PathProblem::TwoPods {
                    path: path.clone(),
                    first: first.clone(),
                    found: owner,
                }))
            }
            _ => pod = Some(owner),
        }
    }
    match pod {
        Some(owner) if !network_named => Err(BundleError::NamespacePath {
            field: "linux.namespaces".into(),
            problem: PathProblem::MemberNetwork(owner),
        }),
        pod => Ok(pod),
    }
}

/// The live runvm container under `root` whose host process is in
/// `target` (of the kind `proc_name`): for a pod member, the pod's first
/// container.
fn pod_owner(root: &Path, proc_name: &str, target: NamespaceId) -> Option<String> {
    let container = Container::list(root).into_iter().find(|container| {
        container.status() != Status::Stopped
            && namespace_of(&container.state.pid.to_string(), proc_name) == Some(target)
    })?;
    Some(container.state.pod.unwrap_or(container.state.id))
}

/// Whether a runvm process (a monitor, whose name is the binary's) lives
/// in the network namespace `target`.
fn runvm_lives_in(target: NamespaceId) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let pid = entry.file_name();
        let Some(pid) = pid
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        namespace_of(pid, "net") == Some(target)
            && std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "runvm")
    })
}

fn check_path(wanted: LinuxNamespaceType, path: &Path, root: &Path) -> Result<Named, PathProblem> {
    let file = File::open(path).map_err(|e| PathProblem::Open(path.into(), e))?;
    // SAFETY: NS_GET_NSTYPE takes no argument; on a file that is not a
    // namespace it fails with ENOTTY.
    let nstype = unsafe { ns_get_nstype(file.as_raw_fd()) }
        .map_err(|_| PathProblem::NotNamespace(path.into()))?;
    let found = KINDS
        .iter()
        .find(|kind| kind.flag == nstype)
        .ok_or_else(|| PathProblem::NotNamespace(path.into()))?;
    let Some(wanted) = KINDS.iter().find(|kind| kind.typ == wanted) else {
        return Err(PathProblem::NotNamespace(path.into()));
    };
    if found.typ != wanted.typ {
        return Err(PathProblem::WrongType {
            path: path.into(),
            found: found.spec_name,
            wanted: wanted.spec_name,
        });
    }
    let proc_name = wanted.proc_name;
    let metadata = file
        .metadata()
        .map_err(|e| PathProblem::Open(path.into(), e))?;
    let target = id_of(&metadata);
    let own = namespace_of("self", proc_name) == Some(target);
    if own && wanted.typ == LinuxNamespaceType::Network {
        return Err(PathProblem::HostNetwork(path.into()));
    }
    // The runtime's own namespace is the host's, whoever else is in it
    // (every monitor shares the host's PID namespace, say).
    if let Some(id) = (!own).then(|| pod_owner(root, proc_name, target)).flatten() {
        return match wanted.typ {
            LinuxNamespaceType::Network | LinuxNamespaceType::Ipc | LinuxNamespaceType::Uts => {
                Ok(Named::Pod(id))
            }
            _ => Err(PathProblem::NotShareable {
                path: path.into(),
                kind: wanted.spec_name,
                id,
            }),
        };
    }
    match wanted.typ {
        LinuxNamespaceType::Network if runvm_lives_in(target) => {
            Err(PathProblem::OtherRoot(path.into()))
        }
        LinuxNamespaceType::Network => Ok(Named::Network),
        _ => Err(PathProblem::Host {
            path: path.into(),
            kind: wanted.spec_name,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        std::env::temp_dir().join(format!("runvm-nsroot-{}", std::process::id()))
    }

    #[test]
    fn the_type_at_the_path_must_be_the_spec_type() {
        let err = check_path(
            LinuxNamespaceType::Network,
            "/proc/self/ns/uts".as_ref(),
            &root(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/self/ns/uts is a namespace of type uts, not network"
        );
        let err = check_path(
            LinuxNamespaceType::Ipc,
            "/proc/self/ns/pid".as_ref(),
            &root(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/self/ns/pid is a namespace of type pid, not ipc"
        );
    }

    #[test]
    fn a_file_that_is_no_namespace_or_no_file_is_refused() {
        let err =
            check_path(LinuxNamespaceType::Uts, "/proc/self/stat".as_ref(), &root()).unwrap_err();
        assert_eq!(err.to_string(), "/proc/self/stat is not a namespace");
        let err =
            check_path(LinuxNamespaceType::Uts, "/nonexistent/ns".as_ref(), &root()).unwrap_err();
        assert!(matches!(err, PathProblem::Open(..)));
    }

    #[test]
    fn host_namespaces_are_refused_saying_why() {
        for (kind, name) in [
            (LinuxNamespaceType::Ipc, "ipc"),
            (LinuxNamespaceType::Uts, "uts"),
            (LinuxNamespaceType::Pid, "pid"),
            (LinuxNamespaceType::Mount, "mnt"),
        ] {
            let path = PathBuf::from(format!("/proc/self/ns/{name}"));
            let err = check_path(kind, &path, &root()).unwrap_err();
            assert!(matches!(err, PathProblem::Host { .. }), "{err}");
            assert!(
                err.to_string().contains("which the VM cannot join"),
                "{err}"
            );
        }
        let err = check_path(
            LinuxNamespaceType::Network,
            "/proc/self/ns/net".as_ref(),
            &root(),
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("cannot share the host's network stack"));
    }

    #[test]
    fn spec_paths_are_named_by_field_and_empty_paths_are_new_namespaces() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [
                {"type": "pid", "path": ""},
                {"type": "network"},
                {"type": "uts", "path": "/proc/self/ns/ipc"}
            ]}
        }))
        .unwrap();
        let err = check_paths(&spec, &root()).unwrap_err();
        assert_eq!(
            crate::error_chain::error_chain(&err),
            "config.json: linux.namespaces[2].path: /proc/self/ns/ipc is a namespace of type \
             ipc, not uts"
        );
    }
}
