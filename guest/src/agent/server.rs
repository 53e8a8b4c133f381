//! Connections and the request dispatcher.
//!
//! Each accepted connection gets its own thread. Its first request decides
//! what it is: `Hello` makes it a control connection (requests answered one
//! by one, in order), `AttachStream` makes it one stdio stream of a process
//! (raw bytes after the `Ok`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use proto::agent::{Request, Response, StreamKind, PROTOCOL_VERSION};
use proto::frame::{read_message, write_message, FrameError};
use proto::timing::GuestStage;

use super::cgroup::{self, Cgroup, CGROUP_MOUNT, CONTAINER_CGROUP};
use super::container::{self, Container};
use super::network;
use super::socket::{Listener, Stream};
use super::stream;
use super::table::{Error, Table};

/// Ends the VM with a status; in the VM it never returns.
pub type PowerOff = Box<dyn Fn(u8) + Send + Sync>;

/// The agent: the container once created, its pod's members, the process
/// table and what `Shutdown` calls.
pub struct Agent {
    container: Mutex<Option<Arc<Container>>>,
    /// Pod members by id (see [`Request::CreateMember`]).
    members: Mutex<HashMap<String, Arc<Container>>>,
    table: Table,
    power_off: PowerOff,
}

impl Agent {
    pub fn new(power_off: PowerOff) -> Arc<Self> {
        Arc::new(Agent {
            container: Mutex::default(),
            members: Mutex::default(),
            table: Table::default(),
            power_off,
        })
    }

    /// Accepts connections forever, each served on its own thread.
    pub fn serve(self: &Arc<Self>, listener: &Listener) -> ! {
        loop {
            match listener.accept() {
                Ok(conn) => {
                    let agent = Arc::clone(self);
                    let spawned = thread::Builder::new()
                        .name("agent-conn".into())
                        .spawn(move || agent.serve_connection(conn));
                    if let Err(error) = spawned {
                        eprintln!("runvm-init: agent: no thread for a connection: {error}");
                    }
                }
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(errno) => {
                    eprintln!("runvm-init: agent: accept: {}", super::describe(errno));
                    // Out of descriptors or memory: let other threads finish.
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Serves one connection until it closes or misbehaves.
    pub fn serve_connection(&self, mut conn: Stream) {
        let Some(first) = receive(&mut conn) else {
            return;
        };
        match first {
            Request::Hello { version } if version == PROTOCOL_VERSION => {
                let hello = Response::Hello {
                    version: PROTOCOL_VERSION,
                };
                if write_message(&mut conn, &hello).is_ok() {
                    self.control(conn);
                }
            }
            Request::Hello { version } => reply_error(
                &mut conn,
                format!(
                    "protocol version {version} is not supported (agent speaks {PROTOCOL_VERSION})"
                ),
            ),
            Request::AttachStream { exec_id, stream } => self.attach(conn, &exec_id, stream),
            _ => reply_error(
                &mut conn,
                "a connection must start with hello or attach_stream".into(),
            ),
        }
    }

    fn control(&self, mut conn: Stream) {
        while let Some(request) = receive(&mut conn) {
            let shutdown = match request {
                Request::Shutdown { status } => Some(status),
                _ => None,
            };
            let answered = write_message(&mut conn, &self.handle(request)).is_ok();
            if let Some(status) = shutdown {
                // The answer went out first; the VM stops even if the host
                // did not hear it.
                nix::unistd::sync();
                (self.power_off)(status);
            }
            if !answered {
                return;
            }
        }
    }

    /// Answers one request of a control connection.
    fn handle(&self, request: Request) -> Response {
        self.dispatch(request)
            .unwrap_or_else(|error| Response::Error {
                message: error.to_string(),
            })
    }

    fn dispatch(&self, request: Request) -> Result<Response, Error> {
        let table = &self.table;
        Ok(match request {
            Request::CreateContainer { spec } => {
                // Held while creating: a concurrent second one waits, then
                // finds the container.
                let mut container = self.lock_container();
                if container.is_some() {
                    return Err(container::Error::Exists.into());
                }
                let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
                let created = container::create(&spec, container::Joined::default())?;
                let cgroup = Cgroup::create(Path::new(CGROUP_MOUNT), CONTAINER_CGROUP, resources)?;
                *container = Some(Arc::new(created.with_cgroup(cgroup)));
                crate::timing::mark(GuestStage::ContainerSetUp);
                Response::Ok
            }
            Request::CreateMember { id, spec, shared } => {
                let first = self.lock_container().clone().ok_or(Error::NoContainer)?;
                let name = member_cgroup(&id)?;
                // Held while creating, as for the first container.
                let mut members = self.lock_members();
                if members.contains_key(&id) {
                    return Err(Error::MemberExists(id));
                }
                let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
                let created = container::create(&spec, first.shared(shared)?)?;
                let cgroup = Cgroup::create(Path::new(CGROUP_MOUNT), &name, resources)?;
                members.insert(id, Arc::new(created.with_cgroup(cgroup)));
                Response::Ok
            }
            Request::DeleteMember { id } => {
                let removed = self.lock_members().remove(&id);
                if let Some(cgroup) = removed.as_deref().and_then(Container::cgroup) {
                    cgroup.remove()?;
                }
                Response::Ok
            }
            Request::ConfigureNetwork { network: config } => {
                network::configure(&config)?;
                Response::Ok
            }
            Request::CreateProcess {
                exec_id,
                process,
                container: None,
            } => {
                let container = self.lock_container().clone();
                table.create(exec_id, &process, container)?;
                crate::timing::mark(GuestStage::ProcessForked);
                Response::Ok
            }
            Request::CreateProcess {
                exec_id,
                process,
                container: Some(id),
            } => {
                let container = self.lock_members().get(&id).cloned();
                let container = container.ok_or(Error::UnknownMember(id))?;
                table.create(exec_id, &process, Some(container))?;
                Response::Ok
            }
            Request::Start { exec_id } => {
                let pid = table.start(&exec_id)?;
                crate::timing::mark(GuestStage::ProcessExec);
                Response::Started { pid }
            }
            Request::Wait { exec_id } => Response::Exited {
                status: table.wait(&exec_id)?,
            },
            Request::Signal {
                exec_id,
                signal,
                all,
            } => {
                table.get(&exec_id)?.signal(signal, all)?;
                Response::Ok
            }
            Request::ResizeTty {
                exec_id,
                rows,
                cols,
            } => {
                table.get(&exec_id)?.resize(rows, cols)?;
                Response::Ok
            }
            Request::ListProcesses { container: None } => {
                let members: Vec<_> = self.lock_members().values().cloned().collect();
                Response::Processes {
                    processes: table.running(|exec| !members.iter().any(|m| exec.runs_in(m))),
                }
            }
            Request::ListProcesses {
                container: Some(id),
            } => {
                let member = self.lock_members().get(&id).cloned();
                let member = member.ok_or(Error::UnknownMember(id))?;
                Response::Processes {
                    processes: table.running(|exec| exec.runs_in(&member)),
                }
            }
            Request::Stats => Response::Stats {
                stats: Box::new(self.with_cgroup(Cgroup::stats)?),
            },
            Request::Update { resources } => {
                self.with_cgroup(|cgroup| cgroup.update(&resources))?;
                Response::Ok
            }
            Request::Hello { .. } => Response::Error {
                message: "hello was already said".into(),
            },
            Request::AttachStream { .. } => Response::Error {
                message: "attach_stream must open its own connection".into(),
            },
            // The control loop powers off once this answer is out.
            Request::Shutdown { .. } => Response::Ok,
        })
    }

    /// Makes processes created from now on run in `container`, as
    /// `CreateContainer` does.
    #[cfg(test)]
    pub fn set_container(&self, container: Container) {
        *self.lock_container() = Some(Arc::new(container));
    }

    /// Runs `f` on the container's cgroup.
    fn with_cgroup<T>(
        &self,
        f: impl FnOnce(&Cgroup) -> Result<T, cgroup::Error>,
    ) -> Result<T, Error> {
        let container = self.lock_container().clone();
        let cgroup = container.as_deref().and_then(Container::cgroup);
        Ok(f(cgroup.ok_or(Error::NoContainer)?)?)
    }

    fn lock_container(&self) -> MutexGuard<'_, Option<Arc<Container>>> {
        self.container
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_members(&self) -> MutexGuard<'_, HashMap<String, Arc<Container>>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns `conn` into a stdio stream of `exec_id` and relays it.
    fn attach(&self, mut conn: Stream, exec_id: &str, kind: StreamKind) {
        let attached = self
            .table
            .get(exec_id)
            .and_then(|exec| Ok((exec.attach(kind)?, exec)));
        let (mut fd, exec) = match attached {
            Ok(attached) => attached,
            Err(error) => return reply_error(&mut conn, error.to_string()),
        };
        let answered = write_message(&mut conn, &Response::Ok).is_ok();
        match kind {
            StreamKind::Stdin => {
                if answered {
                    stream::input(&mut conn, &mut fd, exec.exit_fd());
                }
                conn.shutdown();
            }
            StreamKind::Stdout | StreamKind::Stderr => {
                if answered {
                    stream::output(&mut fd, &mut conn, exec.exit_fd());
                }
                // Shut down before `Wait` may answer, so the stream's end
                // is on its way ahead of the exit status (mod.rs).
                conn.shutdown();
                exec.relay_done();
            }
            StreamKind::Pty => {
                if answered {
                    // Host input goes on its own thread; output stays here,
                    // and its end (shutting the connection) ends the input.
                    let input = conn.try_clone().and_then(|mut conn| {
                        let mut master = fd.try_clone()?;
                        let exec = Arc::clone(&exec);
                        thread::Builder::new()
                            .name("agent-pty-in".into())
                            .spawn(move || stream::input(&mut conn, &mut master, exec.exit_fd()))
                    });
                    if input.is_ok() {
                        stream::output(&mut fd, &mut conn, exec.exit_fd());
                    }
                }
                conn.shutdown();
                exec.relay_done();
            }
        }
    }
}

/// The cgroup of pod member `id`: a name of one path component.
fn member_cgroup(id: &str) -> Result<String, Error> {
    if id.is_empty() || id.contains(['/', '\0']) || id == "." || id == ".." {
        return Err(Error::MemberId(id.to_string()));
    }
    Ok(format!("member-{id}"))
}

/// Reads the next request; None when the peer closed the connection or
/// sent something that is not a request (after telling it so, if it can
/// still listen).
fn receive(conn: &mut Stream) -> Option<Request> {
    match read_message(conn) {
        Ok(request) => Some(request),
        Err(FrameError::Decode(error)) => {
            reply_error(conn, format!("malformed request: {error}"));
            None
        }
        Err(FrameError::TooLarge(len)) => {
            reply_error(conn, format!("request of {len} bytes is too large"));
            None
        }
        Err(_) => None,
    }
}

fn reply_error(conn: &mut Stream, message: String) {
    // The connection is closed next; if the peer cannot hear this, so be it.
    let _ = write_message(conn, &Response::Error { message });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_cgroup_is_one_path_component() {
        assert_eq!(member_cgroup("b").unwrap(), "member-b");
        for id in ["", ".", "..", "a/b", "a\0b"] {
            assert!(
                matches!(member_cgroup(id), Err(Error::MemberId(_))),
                "{id:?}"
            );
        }
    }
}
