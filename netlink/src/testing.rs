//! For tests (here and in crates enabling the `testing` feature): work in
//! a network namespace of its own.

use std::thread;

use nix::sched::{unshare, CloneFlags};

use crate::Rtnl;

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

/// A veth pair `name` — `peer`, both up; their indexes.
pub fn veth_pair_up(rtnl: &mut Rtnl, name: &str, peer: &str) -> (u32, u32) {
    rtnl.add_veth(name, peer).unwrap();
    let [name, peer] = [name, peer].map(|end| rtnl.link(end).unwrap().unwrap().index);
    rtnl.set_up(name).unwrap();
    rtnl.set_up(peer).unwrap();
    (name, peer)
}
