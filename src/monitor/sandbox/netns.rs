//! The monitor enters the container's network namespace, where runc's init
//! would be, before any hook runs: the state's `pid` (the monitor) then
//! leads there, so a hook that configures `/proc/<pid>/ns/net` (docker's
//! `libnetwork-setkey`) configures the container's network, never the
//! host's.

use std::fs::File;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::bundle::network::NetworkNamespace;

/// Why the monitor could not enter the container's network namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("opening the network namespace {}", .0.display())]
    Open(PathBuf, #[source] std::io::Error),
    #[error("{} is not a network namespace", .0.display())]
    NotNetwork(PathBuf),
    #[error("joining the network namespace {}", .0.display())]
    Join(PathBuf, #[source] Errno),
    #[error("creating a network namespace")]
    New(#[source] Errno),
}

/// Moves the calling process into `namespace`. Call it while the process
/// has one thread: a namespace joined later is the calling thread's only.
pub fn enter(namespace: &NetworkNamespace) -> Result<(), NetnsError> {
    match namespace {
        NetworkNamespace::Join(path) => {
            let file = File::open(path).map_err(|e| NetnsError::Open(path.clone(), e))?;
            // setns checks the namespace's type against the one named.
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
                Errno::EINVAL => NetnsError::NotNetwork(path.clone()),
                e => NetnsError::Join(path.clone(), e),
            })
        }
        NetworkNamespace::New => {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(NetnsError::New)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a thread of its own, so that the namespace it enters
    /// leaves the test process as it was.
    fn on_a_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    fn own_netns() -> std::path::PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    #[test]
    fn a_path_of_another_type_is_refused_by_name() {
        let err =
            on_a_thread(|| enter(&NetworkNamespace::Join("/proc/self/ns/uts".into())).unwrap_err());
        assert_eq!(
            err.to_string(),
            "/proc/self/ns/uts is not a network namespace"
        );
        let missing = enter(&NetworkNamespace::Join("/nonexistent/netns".into())).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "opening the network namespace /nonexistent/netns"
        );
    }

    #[test]
    fn a_new_namespace_or_a_path_is_entered() {
        let host = own_netns();
        let (new, joined) = on_a_thread(move || {
            enter(&NetworkNamespace::New).unwrap();
            let new = own_netns();
            // Back into the test's own namespace, by path.
            enter(&NetworkNamespace::Join("/proc/self/ns/net".into())).unwrap();
            (new, own_netns())
        });
        assert_ne!(new, host);
        assert_eq!(joined, host);
    }
}
