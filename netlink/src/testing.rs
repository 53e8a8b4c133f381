//! For tests (here and in crates enabling the `testing` feature): work in
//! a network namespace of its own.

use std::thread;

use nix::sched::{unshare, CloneFlags};

/// Runs `work` on a new thread moved into a fresh network namespace, which
/// disappears with the thread; panics (failing the test) if `work` does or
/// the namespace cannot be made (the tests run as root).
pub fn in_new_network_namespace<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare(CloneFlags::CLONE_NEWNET)
                    .expect("unshare(CLONE_NEWNET) (tests run as root)");
                work()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
