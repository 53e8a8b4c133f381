//! A pod member's host process: what `create` starts, in place of a
//! monitor with a VM, for a container that joins another runvm
//! container's namespaces (see `crate::oci::bundle::namespaces`). Its
//! share is staged in the first container's (`sandbox::pod`); it asks
//! that container's guest agent to set the member up and to prepare its
//! process, relays the process's stdio, serves the member's control
//! socket, forwards signals and ends as the process ended: what an exec
//! relay does for an exec'd process, with a container of its own in the
//! guest. The VM stays the first container's: when it ends, so does the
//! member.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::SigSet;
use oci_spec::runtime::{Hooks, Process, Spec};
use proto::agent::{member_init_exec_id, ExitStatus, SharedNamespaces};
use vmm::seccomp::BpfProgram;

use super::control_server::{Control, Serves};
use super::hooks::run_in_guest;
use super::lifecycle::{lock, Lifecycle};
use super::session::Session;
use super::{hook_list, run_runtime_hooks, supervise, MonitorError, MonitorEvent};
use crate::agent_client::AgentClient;
use crate::container::state::{State, Status};
use crate::control::report_ready;

/// How long the first container's agent may take to answer: it runs.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a pod member's host process needs.
pub struct MemberConfig {
    /// The member's id.
    pub id: String,
    /// The vsock socket of the pod's VM (its first container's).
    pub vsock: PathBuf,
    /// The member's spec as the agent gets it (paths relative to the share,
    /// no namespace paths).
    pub spec: Spec,
    /// What it shares with the first container besides the network.
    pub shared: SharedNamespaces,
    pub process: Process,
    /// The member's own control socket.
    pub control_socket: PathBuf,
    /// Where `create` waits for the member to be created.
    pub ready: File,
    pub state_dir: PathBuf,
    pub state: Box<State>,
    pub hooks: Box<Hooks>,
    /// The namespaces the process left for the member's: where the host
    /// hooks run.
    pub runtime_namespaces: Vec<File>,
}

/// Runs the member to its end and returns how its process ended, or what
/// the control socket ended it with.
pub fn run(config: MemberConfig) -> Result<ExitStatus, MonitorError> {
    supervise(move |signals, supervisor_filter, control_filter, events| {
        run_member(config, signals, supervisor_filter, control_filter, events)
    })
}

fn run_member(
    config: MemberConfig,
    signals: SigSet,
    supervisor_filter: &BpfProgram,
    control_filter: BpfProgram,
    events: Sender<MonitorEvent>,
) -> Result<ExitStatus, MonitorError> {
    let MemberConfig {
        id,
        vsock,
        spec,
        shared,
        process,
        control_socket,
        mut ready,
        state_dir,
        state,
        hooks,
        runtime_namespaces,
    } = config;
    let creating = state.hook_input(Status::Creating);
    run_runtime_hooks(&runtime_namespaces, &hooks, &creating)?;
    drop(runtime_namespaces);
    let mut agent = AgentClient::connect(&vsock, AGENT_TIMEOUT)?;
    agent.create_member(&id, &spec, shared)?;
    let session = Session::create(agent, &member_init_exec_id(&id), &process)?;
    let guest_hooks = hook_list(hooks.create_container());
    run_in_guest("createContainer", &guest_hooks, &creating, session.agent())?;
    let start_hooks = hook_list(hooks.start_container());
    let lifecycle = Lifecycle::created(state_dir, *state, start_hooks);
    let lifecycle = Arc::new(Mutex::new(lifecycle));
    let (started, started_rx) = channel();
    let control = Control {
        serves: Serves::Member(id),
        agent: session.agent().try_clone()?,
        lifecycle: lifecycle.clone(),
        started,
        events,
    };
    control.serve(&control_socket, control_filter)?;
    // `create` returns now.
    report_ready(&mut ready);
    drop(ready);
    // Every sender lives in the control thread, which runs for the
    // process's life.
    let _ = started_rx.recv();
    let status = session.wait(signals, Some(supervisor_filter));
    lock(&lifecycle).set_status(Status::Stopped);
    Ok(status?)
}
