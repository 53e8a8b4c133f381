//! The monitor enters the container's network namespace, where runc's init
//! would be, before any hook runs: the state's `pid` (the monitor) then
//! leads there, so a hook that configures `/proc/<pid>/ns/net` (docker's
//! `libnetwork-setkey`) configures the container's network, never the
//! host's. The hooks themselves run in the namespace the monitor left (the
//! spec's "runtime namespace"), as runc runs them from outside the
//! container: [`run_in`].

use std::fs::File;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::oci::bundle::network::NetworkNamespace;

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
    #[error("opening the monitor's own network namespace")]
    Own(#[source] std::io::Error),
    #[error("entering a network namespace from a thread")]
    Thread(#[source] Errno),
    #[error("starting a thread for another network namespace")]
    Spawn(#[source] std::io::Error),
}

/// Moves the calling process into `namespace` and returns the one it
/// left. Call it while the process has one thread: a namespace joined
/// later is the calling thread's only.
pub fn enter(namespace: &NetworkNamespace) -> Result<File, NetnsError> {
    let left = File::open("/proc/thread-self/ns/net").map_err(NetnsError::Own)?;
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
    }?;
    Ok(left)
}

/// Runs `work` on a thread of its own in the network namespace `netns`, so
/// that the processes it starts are there too.
pub fn run_in<T: Send>(netns: &File, work: impl FnOnce() -> T + Send) -> Result<T, NetnsError> {
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("netns".into())
            .spawn_scoped(scope, || {
                nix::sched::setns(netns, CloneFlags::CLONE_NEWNET).map_err(NetnsError::Thread)?;
                Ok(work())
            })
            .map_err(NetnsError::Spawn)?;
        // The work's panic is the caller's.
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
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

    #[test]
    fn work_runs_in_the_namespace_left_and_so_do_its_processes() {
        let host = own_netns();
        let (container, worked_in, child_in) = on_a_thread(move || {
            let left = enter(&NetworkNamespace::New).unwrap();
            let container = own_netns();
            let (worked_in, child_in) = run_in(&left, || {
                let child = std::process::Command::new("readlink")
                    .arg("/proc/self/ns/net")
                    .output()
                    .unwrap();
                let child_in = String::from_utf8(child.stdout).unwrap();
                (own_netns(), child_in.trim().to_owned())
            })
            .unwrap();
            (container, worked_in, child_in)
        });
        assert_ne!(container, host);
        assert_eq!(worked_in, host);
        assert_eq!(child_in, host.to_string_lossy());
    }
}
