//! The agent protocol: what the host monitor asks the guest agent, over
//! vsock stream connections to [`AGENT_PORT`].
//!
//! Every connection starts with one [`Request`]. A control connection
//! sends [`Request::Hello`] and then any number of requests, each answered
//! by one [`Response`]. A stdio connection sends [`Request::AttachStream`],
//! gets [`Response::Ok`], and from then on carries raw bytes: host to
//! guest for stdin, guest to host for stdout and stderr, both ways for a
//! pty. The agent closes stdout/stderr/pty streams after the process's
//! last byte; the host closes stdin at its end of input.
//!
//! A process goes: `CreateProcess` (validated, stdio prepared) → its
//! streams attached → `Start` (spawned) → `Wait` (answered at exit).
//!
//! A container with a network gets `ConfigureNetwork` (see [`crate::net`])
//! before `CreateContainer`: a request of its own rather than a field of
//! `CreateContainer`, so that a failure names the network, and so that a
//! container without one (loopback only) sends nothing new.

use oci_spec::runtime::{LinuxResources, Process, Spec};

use crate::net::NetworkConfig;
use crate::stats::Stats;
use serde::{Deserialize, Serialize};

/// Version of this protocol; `Hello` carries it both ways and the agent
/// refuses a host speaking another one.
pub const PROTOCOL_VERSION: u32 = 1;
/// vsock port the agent listens on.
pub const AGENT_PORT: u32 = 1024;
/// The guest's vsock context id.
pub const GUEST_CID: u64 = 3;
/// The virtio-fs tag of the container's share: its root holds `rootfs/`
/// (the bundle's rootfs) and `mounts/<n>`, the source of the `n`th bind
/// mount of the spec.
pub const SHARE_TAG: &str = "runvm";
/// The share's directory holding the container's root filesystem.
pub const SHARE_ROOTFS: &str = "rootfs";
/// The share's directory holding bind-mount sources.
pub const SHARE_MOUNTS: &str = "mounts";
/// The exec id of the container's own process (`start` starts it); every
/// other process (exec, the guest's hooks) has another.
pub const INIT_EXEC_ID: &str = "init";
/// The share's directory holding each pod member's own share, by id: its
/// `rootfs/` and `mounts/<n>` as the first container's are at the top.
pub const SHARE_MEMBERS: &str = "members";

/// The exec id of the own process of the pod member `id` (see
/// [`Request::CreateMember`]).
pub fn member_init_exec_id(id: &str) -> String {
    format!("{INIT_EXEC_ID}.{id}")
}

/// Whether `exec_id` is a container's own process: the first container's
/// or a pod member's. It makes the container's PID namespace, which the
/// container's other processes join.
pub fn is_init_exec_id(exec_id: &str) -> bool {
    exec_id == INIT_EXEC_ID
        || exec_id
            .strip_prefix(INIT_EXEC_ID)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|id| !id.is_empty())
}

/// The namespaces a pod member shares with the first container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedNamespaces {
    pub uts: bool,
    pub ipc: bool,
}

/// One stdio stream of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// The pty master, both directions, when `process.terminal` is true.
    Pty,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
}

/// A process the agent knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// The id the host gave it.
    pub exec_id: String,
    /// Its pid in the guest.
    pub pid: i32,
}

/// What the host asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Opens a control connection.
    Hello { version: u32 },
    /// Sets up the container from its OCI spec: `root.path` and bind-mount
    /// sources are relative to the share ([`SHARE_TAG`]); every other mount,
    /// the hostname, masked and read-only paths are as in config.json.
    /// Processes created afterwards run inside this container.
    CreateContainer { spec: Box<Spec> },
    /// Sets up another container in the VM, a member of the first one's
    /// pod (the first must exist): as `CreateContainer`, with `root.path`
    /// and bind sources relative to the share too (under
    /// [`SHARE_MEMBERS`]`/<id>/`). It joins the first container's UTS and
    /// IPC namespaces where `shared` says so (its spec then lists none of
    /// them), and the VM's network like every container; the rest are as
    /// its spec asks, and it gets a cgroup of its own. Its processes are
    /// created with `container: Some(id)`, its own under
    /// [`member_init_exec_id`].
    CreateMember {
        id: String,
        spec: Box<Spec>,
        shared: SharedNamespaces,
    },
    /// Ends every process of member `id` (SIGKILL through its cgroup),
    /// removes its cgroup and forgets it; an unknown id is not an error.
    DeleteMember { id: String },
    /// Configures the guest's network (the container's) as `network` says:
    /// its interfaces found by MAC, named, sized, up and addressed, then
    /// its routes and neighbours. Loopback is up whether or not this comes.
    ConfigureNetwork { network: Box<NetworkConfig> },
    /// Prepares a process from the OCI process spec, under `exec_id`, in
    /// the first container, or in the pod member `container` names.
    CreateProcess {
        exec_id: String,
        process: Box<Process>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
    },
    /// Turns this connection into one stdio stream of `exec_id`.
    AttachStream { exec_id: String, stream: StreamKind },
    /// Spawns a created process whose streams are attached.
    Start { exec_id: String },
    /// Sends `signal` to the process, or with `all` to its whole process
    /// group.
    Signal {
        exec_id: String,
        signal: i32,
        all: bool,
    },
    /// Answers when the process has exited.
    Wait { exec_id: String },
    /// Sets the pty window size.
    ResizeTty {
        exec_id: String,
        rows: u16,
        cols: u16,
    },
    /// Lists the running processes the agent started in the first
    /// container (and outside any), or in the pod member `container`.
    ListProcesses {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
    },
    /// Reads the container cgroup's resource usage.
    Stats,
    /// Applies `resources` to the container's cgroup; fields left out keep
    /// their values.
    Update { resources: Box<LinuxResources> },
    /// Powers the VM off with `status`.
    Shutdown { status: u8 },
}

/// What the agent answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The agent's protocol version.
    Hello { version: u32 },
    /// Done.
    Ok,
    /// The process was spawned with this guest pid.
    Started { pid: i32 },
    /// The process ended.
    Exited { status: ExitStatus },
    /// The processes the agent started and that still run.
    Processes { processes: Vec<ProcessInfo> },
    /// The container's resource usage.
    Stats { stats: Box<Stats> },
    /// The request failed; `message` says what failed.
    Error { message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let json = serde_json::to_string(&Request::Signal {
            exec_id: "init".into(),
            signal: 9,
            all: false,
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"request":"signal","exec_id":"init","signal":9,"all":false}"#
        );
    }

    #[test]
    fn create_process_carries_the_oci_process() {
        let process: Process = serde_json::from_str(
            r#"{"args":["sh","-c","exit 42"],"cwd":"/","user":{"uid":0,"gid":0},"terminal":false}"#,
        )
        .unwrap();
        let request = Request::CreateProcess {
            exec_id: "init".into(),
            process: Box::new(process),
            container: None,
        };
        let json = serde_json::to_string(&request).unwrap();
        assert!(!json.contains("container"), "{json}");
        let json = serde_json::to_string(&request).unwrap();
        let back: Request = serde_json::from_str(&json).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn a_members_own_process_is_an_init() {
        assert!(is_init_exec_id(INIT_EXEC_ID));
        assert!(is_init_exec_id(&member_init_exec_id("b")));
        assert!(!is_init_exec_id("init."));
        assert!(!is_init_exec_id("initial"));
        assert!(!is_init_exec_id("exec-1"));
    }

    #[test]
    fn exit_status_shape() {
        let json = serde_json::to_string(&Response::Exited {
            status: ExitStatus::Signal(9),
        })
        .unwrap();
        assert_eq!(json, r#"{"response":"exited","status":{"signal":9}}"#);
    }
}
