//! The guest agent: serves the host monitor's requests (see
//! [`proto::agent`]) over vsock, and creates, starts, signals and waits for
//! the container's processes.
//!
//! What the host can rely on:
//!
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
//! - `Shutdown` is answered, the filesystems are synced, and the VM is off:
//!   the answer may not leave the VM before it stops.
//!
//! - [`server`]: connections and the request dispatcher;
//! - `table`: the processes by exec id, their state and stdio;
//! - `process`: OCI process spec → validated spec → spawned process;
//! - `caps`, `pty`: capability sets and pseudo-terminals for that;
//! - `stream`: the stdio relays;
//! - `reaper`: the one place that reaps children (we are PID 1);
//! - `socket`: the vsock listener and connections.

mod caps;
mod container;
mod mounts;
mod process;
mod pty;
mod reaper;
mod resolve;
pub mod server;
mod socket;
mod stream;
mod table;

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
