//! The guest agent: serves the host monitor's requests (see
//! [`proto::agent`]) over vsock, sets up the container, and creates,
//! starts, signals and waits for its processes.
//!
//! What the host can rely on:
//!
//! - `CreateContainer` mounts the share (tag [`proto::agent::SHARE_TAG`])
//!   and builds the container root from `root.path`, the spec's mounts,
//!   `linux.devices`, masked and read-only paths, `root.readonly` and
//!   `linux.rootfsPropagation`, in a mount namespace of its own, then sets
//!   the hostname, domain name and `linux.sysctl` (the VM's own). Errors
//!   name the field or mount destination and what failed. It succeeds at
//!   most once (then: "the container is already created"); a failed one
//!   leaves no mount behind and may be retried.
//! - Processes created after `CreateContainer` run in the container: they
//!   join its mount namespace, whose root is the container root, and their
//!   cwd and program are resolved inside it (never through a /proc magic
//!   link). The agent itself stays in the initramfs root. Processes
//!   created before it (or without one: `runvm boot -- CMD`) run in the
//!   initramfs root.
//! - `CreateContainer` also makes the container's cgroup (v2) with
//!   `linux.resources`; every container process joins it before exec.
//!   `Stats` reads it, `Update` rewrites it.
//! - `linux.namespaces`: a new namespace for each type listed without a
//!   path (UTS, IPC and user at create, PID and cgroup by the container's
//!   init, mount always), the guest's for a type left out; the network
//!   namespace is always the guest's (the VM's network is the
//!   container's); a path, or a time namespace, is refused. Every
//!   container process joins them.
//! - A container process's pty comes from the container's /dev/ptmx when
//!   it has one (its tty is then one of its /dev/pts), else the agent's.
//! - `Start` needs every stream attached first: stdin, stdout and stderr,
//!   or the one pty. A failed `Start` forgets the exec id and closes its
//!   stream connections.
//! - `Exited` is answered only once the process has been reaped *and* its
//!   stdout/stderr (or pty output) relays have written their last byte and
//!   shut their connections down, so reading each stream to EOF after
//!   `Exited` loses nothing. A host that does not read its output stream
//!   holds up `Wait`. After `Exited` the exec id is forgotten.
//! - After the exit, output still buffered is drained and the relays stop,
//!   even if a background process keeps the pipe or pty open. The stdin
//!   relay stops at the exit too (and shuts its connection down); the
//!   host's end of stdin (EOF) closes the process's stdin.
//! - A pty connection carries both directions; the host half-closing it
//!   ends only the input. `ResizeTty` works from `CreateProcess` on.
//! - `ConfigureNetwork` gives each interface's virtio-net device (found by
//!   MAC) the host link's name, MTU and addresses, brings it up, then adds
//!   the routes and neighbours; errors name the interface, route or
//!   neighbour. Loopback is up from boot, with or without it.
//! - `Shutdown` is answered, the filesystems are synced, and the VM is off:
//!   the answer may not leave the VM before it stops.
//!
//! - [`server`]: connections and the request dispatcher;
//! - `container`, `mounts`, `resolve`: the container's root and mounts,
//!   and paths resolved inside it;
//! - `table`: the processes by exec id, their state and stdio;
//! - `process`: OCI process spec → validated spec → spawned process;
//! - `caps`, `pty`: capability sets and pseudo-terminals for that;
//! - `cgroup`: the container's cgroup: resources, stats, updates;
//! - `network`: the interfaces, routes and neighbours `ConfigureNetwork`
//!   asks for;
//! - `stream`: the stdio relays;
//! - `reaper`: the one place that reaps children (we are PID 1);
//! - `socket`: the vsock listener and connections.

mod caps;
mod cgroup;
mod container;
mod mounts;
mod network;
mod pidns;
mod process;
mod pty;
mod reaper;
mod resolve;
mod seccomp;
pub mod server;
mod socket;
mod stream;
mod sys;
mod table;
mod userns;

#[cfg(test)]
mod tests;

use nix::errno::Errno;

pub use process::DEFAULT_PATH;
pub use server::Agent;
pub use socket::{vsock_present, Listener};

/// `errno`'s text as in strerror, starting lower-case as error messages
/// here do: "no such file or directory".
fn describe(errno: Errno) -> String {
    let text = errno.desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The errno behind an I/O error from a system call.
fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}
