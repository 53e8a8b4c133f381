//! The guest agent: serves the host monitor's requests (see
//! [`proto::agent`]) over vsock, and creates, starts, signals and waits for
//! the container's processes.
//!
//! - [`server`]: connections and the request dispatcher;
//! - `table`: the processes by exec id, their state and stdio;
//! - `process`: OCI process spec → validated spec → spawned process;
//! - `caps`, `pty`: capability sets and pseudo-terminals for that;
//! - `stream`: the stdio relays;
//! - `reaper`: the one place that reaps children (we are PID 1);
//! - `socket`: the vsock listener and connections.

mod caps;
mod process;
mod pty;
mod reaper;
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
