//! For tests (here and in crates enabling the `testing` feature): work in
//! network namespaces of their own.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::thread;

use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use nix::sched::{setns, unshare, CloneFlags};

use crate::Rtnl;

/// Runs `work` on a new thread moved into a fresh network namespace, which
/// disappears with the thread; panics (failing the test) if `work` does or
/// the namespace cannot be made (the tests run as root).
pub fn in_new_network_namespace<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    on_thread(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET) (tests run as root)");
        work()
    })
}

/// A fresh network namespace, which lasts as long as the file.
pub fn new_network_namespace() -> File {
    in_new_network_namespace(|| File::open("/proc/thread-self/ns/net").unwrap())
}

/// Runs `work` on a new thread in `namespace`.
pub fn in_network_namespace<T: Send>(namespace: &File, work: impl FnOnce() -> T + Send) -> T {
    on_thread(|| {
        setns(namespace.as_fd(), CloneFlags::CLONE_NEWNET).unwrap();
        work()
    })
}

fn on_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves link `index` into `namespace`.
pub fn move_link(rtnl: &mut Rtnl, index: u32, namespace: &File) {
    let mut message = LinkMessage::default();
    message.header.index = index;
    message
        .attributes
        .push(LinkAttribute::NetNsFd(namespace.as_raw_fd()));
    rtnl.change(RouteNetlinkMessage::SetLink(message), 0, || {
        format!("moving link {index}")
    })
    .unwrap();
}

/// A veth pair `name` — `peer`, both up; their indexes.
pub fn veth_pair_up(rtnl: &mut Rtnl, name: &str, peer: &str) -> (u32, u32) {
    rtnl.add_veth(name, peer).unwrap();
    let [name, peer] = [name, peer].map(|end| rtnl.link(end).unwrap().unwrap().index);
    rtnl.set_up(name).unwrap();
    rtnl.set_up(peer).unwrap();
    (name, peer)
}
