//! The host end of the agent protocol: connections to the guest agent
//! through the vsock device's Unix socket (`CONNECT <port>\n` →
//! `OK <port>\n`, then the stream).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oci_spec::runtime::{Process, Spec};
use proto::agent::{
    ExitStatus, Request, Response, SharedNamespaces, StreamKind, AGENT_PORT, PROTOCOL_VERSION,
};
use proto::frame::{read_message, write_message, FrameError};
use proto::net::NetworkConfig;
use virtio::vsock::SocketPath;

/// How long to wait between attempts while the guest agent comes up.
const RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// Why talking to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("connecting to the vsock socket {}", .0.display())]
    Connect(PathBuf, #[source] io::Error),
    #[error("the guest refused a connection to vsock port {0}")]
    Refused(u32),
    #[error("the guest agent did not come up within {0:?}")]
    Timeout(Duration),
    #[error("talking to the guest agent")]
    Frame(#[from] FrameError),
    #[error("the guest agent speaks protocol version {0}, runvm speaks {PROTOCOL_VERSION}")]
    Version(u32),
    #[error("{0}")]
    Agent(String),
    #[error("unexpected answer from the guest agent: {0:?}")]
    Unexpected(Box<Response>),
}

/// Opens a stream to guest `port` through the hybrid-vsock socket at
/// `uds`. The handshake line is read byte by byte so no stream data is
/// consumed with it.
pub fn connect_port(uds: &SocketPath, port: u32) -> Result<UnixStream, AgentError> {
    let failed = |e| AgentError::Connect(uds.path().into(), e);
    let mut stream = uds.connect().map_err(failed)?;
    stream
        .write_all(format!("CONNECT {port}\n").as_bytes())
        .map_err(failed)?;
    let mut line = Vec::with_capacity(16);
    let mut byte = [0u8; 1];
    while line.len() < 32 {
        match stream.read(&mut byte) {
            Ok(0) => return Err(AgentError::Refused(port)),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                return Err(AgentError::Refused(port))
            }
            Err(e) => return Err(failed(e)),
        }
    }
    if line.starts_with(b"OK ") {
        Ok(stream)
    } else {
        Err(AgentError::Refused(port))
    }
}

/// A control connection to the agent.
pub struct AgentClient {
    /// Kept open for the connections opened later, which may come from a
    /// thread whose seccomp filter forbids opening the directory again.
    uds: Arc<SocketPath>,
    control: UnixStream,
    /// The pod member the processes created through this client run in
    /// (None: the VM's first container).
    member: Option<String>,
}

impl AgentClient {
    /// Connects to the agent, retrying until it listens or `timeout`
    /// passes, and checks the protocol version.
    pub fn connect(uds: &Path, timeout: Duration) -> Result<Self, AgentError> {
        let socket = SocketPath::new(uds).map_err(|e| AgentError::Connect(uds.into(), e))?;
        Self::connect_through(Arc::new(socket), timeout)
    }

    fn connect_through(uds: Arc<SocketPath>, timeout: Duration) -> Result<Self, AgentError> {
        let deadline = Instant::now() + timeout;
        let control = loop {
            match connect_port(&uds, AGENT_PORT) {
                Ok(stream) => break stream,
                Err(AgentError::Refused(_) | AgentError::Connect(..))
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(RETRY_INTERVAL);
                }
                Err(AgentError::Refused(_) | AgentError::Connect(..)) => {
                    return Err(AgentError::Timeout(timeout))
                }
                Err(e) => return Err(e),
            }
        };
        let mut client = Self {
            uds,
            control,
            member: None,
        };
        match client.request(&Request::Hello {
            version: PROTOCOL_VERSION,
        })? {
            Response::Hello { version } if version == PROTOCOL_VERSION => Ok(client),
            Response::Hello { version } => Err(AgentError::Version(version)),
            other => Err(AgentError::Unexpected(Box::new(other))),
        }
    }

    /// Sends one request and returns the answer; `Error` answers become
    /// [`AgentError::Agent`].
    pub fn request(&mut self, request: &Request) -> Result<Response, AgentError> {
        write_message(&mut self.control, request)?;
        match read_message(&mut self.control)? {
            Response::Error { message } => Err(AgentError::Agent(message)),
            response => Ok(response),
        }
    }

    fn expect_ok(&mut self, request: &Request) -> Result<(), AgentError> {
        match self.request(request)? {
            Response::Ok => Ok(()),
            other => Err(AgentError::Unexpected(Box::new(other))),
        }
    }

    /// Sets the container up from `spec` (paths relative to the share).
    pub fn create_container(&mut self, spec: &Spec) -> Result<(), AgentError> {
        self.expect_ok(&Request::CreateContainer {
            spec: Box::new(spec.clone()),
        })
    }

    /// Configures the guest's network as the container's namespace has it.
    pub fn configure_network(&mut self, network: &NetworkConfig) -> Result<(), AgentError> {
        self.expect_ok(&Request::ConfigureNetwork {
            network: Box::new(network.clone()),
        })
    }

    /// Prepares `process` under `exec_id`.
    pub fn create_process(&mut self, exec_id: &str, process: &Process) -> Result<(), AgentError> {
        self.expect_ok(&Request::CreateProcess {
            exec_id: exec_id.to_string(),
            process: Box::new(process.clone()),
            container: self.member.clone(),
        })
    }

    /// Opens a new connection carrying one stdio stream of `exec_id`.
    pub fn attach_stream(
        &self,
        exec_id: &str,
        stream: StreamKind,
    ) -> Result<UnixStream, AgentError> {
        let mut conn = connect_port(&self.uds, AGENT_PORT)?;
        write_message(
            &mut conn,
            &Request::AttachStream {
                exec_id: exec_id.to_string(),
                stream,
            },
        )?;
        match read_message(&mut conn)? {
            Response::Ok => Ok(conn),
            Response::Error { message } => Err(AgentError::Agent(message)),
            other => Err(AgentError::Unexpected(Box::new(other))),
        }
    }

    /// Spawns the created process; returns its guest pid.
    pub fn start(&mut self, exec_id: &str) -> Result<i32, AgentError> {
        match self.request(&Request::Start {
            exec_id: exec_id.to_string(),
        })? {
            Response::Started { pid } => Ok(pid),
            other => Err(AgentError::Unexpected(Box::new(other))),
        }
    }

    /// Blocks until the process exits.
    pub fn wait(&mut self, exec_id: &str) -> Result<ExitStatus, AgentError> {
        match self.request(&Request::Wait {
            exec_id: exec_id.to_string(),
        })? {
            Response::Exited { status } => Ok(status),
            other => Err(AgentError::Unexpected(Box::new(other))),
        }
    }

    /// Sends `signal` to the process (or its process group with `all`).
    pub fn signal(&mut self, exec_id: &str, signal: i32, all: bool) -> Result<(), AgentError> {
        self.expect_ok(&Request::Signal {
            exec_id: exec_id.to_string(),
            signal,
            all,
        })
    }

    /// Sets the process's pty window size.
    pub fn resize_tty(&mut self, exec_id: &str, rows: u16, cols: u16) -> Result<(), AgentError> {
        self.expect_ok(&Request::ResizeTty {
            exec_id: exec_id.to_string(),
            rows,
            cols,
        })
    }

    /// A second control connection, for another thread.
    pub fn try_clone(&self) -> Result<Self, AgentError> {
        let mut clone = Self::connect_through(self.uds.clone(), Duration::ZERO)?;
        clone.member.clone_from(&self.member);
        Ok(clone)
    }

    /// Sets pod member `id` up in the VM from `spec` (paths relative to
    /// the share), sharing `shared` with the first container; processes
    /// created through this client run in it from then on.
    pub fn create_member(
        &mut self,
        id: &str,
        spec: &Spec,
        shared: SharedNamespaces,
    ) -> Result<(), AgentError> {
        self.expect_ok(&Request::CreateMember {
            id: id.to_string(),
            spec: Box::new(spec.clone()),
            shared,
        })?;
        self.in_member(id);
        Ok(())
    }

    /// Creates processes in pod member `id` (which exists) from now on.
    pub fn in_member(&mut self, id: &str) {
        self.member = Some(id.to_string());
    }

    /// Ends pod member `id`'s processes and forgets it.
    pub fn delete_member(&mut self, id: &str) -> Result<(), AgentError> {
        self.expect_ok(&Request::DeleteMember { id: id.to_string() })
    }
}

/// Reads lines until a clean end; used by tests of the handshake.
#[cfg(test)]
fn read_line(stream: &mut UnixStream) -> String {
    use std::io::BufRead;
    let mut reader = io::BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket path below a directory as deep as docker's state
    /// directory plus a 64-character id, and deeper: longer than a socket
    /// address can hold.
    fn socket_path() -> (tempfile::TempDir, PathBuf) {
        let top = tempfile::tempdir().unwrap();
        let dir = top
            .path()
            .join("var/run/docker/runtime-runc/moby")
            .join("0123456789abcdef".repeat(4))
            .join("x".repeat(100));
        std::fs::create_dir_all(&dir).unwrap();
        (top, dir.join("vsock.sock"))
    }

    /// A stand-in for the vsock device plus agent: accepts connections,
    /// checks the CONNECT line and serves `serve` on each.
    fn fake_agent(path: &Path, serve: fn(UnixStream)) {
        let listener = SocketPath::new(path).unwrap().bind().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let line = read_line(&mut conn);
                assert_eq!(line, format!("CONNECT {AGENT_PORT}\n"));
                conn.write_all(b"OK 5000\n").unwrap();
                std::thread::spawn(move || serve(conn));
            }
        });
    }

    fn echo_agent(mut conn: UnixStream) {
        while let Ok(request) = read_message::<Request>(&mut conn) {
            let response = match request {
                Request::Hello { .. } => Response::Hello {
                    version: PROTOCOL_VERSION,
                },
                Request::Start { .. } => Response::Started { pid: 7 },
                Request::Wait { .. } => Response::Exited {
                    status: ExitStatus::Code(42),
                },
                Request::Signal { signal: 0, .. } => Response::Error {
                    message: "no such signal".into(),
                },
                Request::AttachStream { .. } => {
                    write_message(&mut conn, &Response::Ok).unwrap();
                    conn.write_all(b"stream bytes").unwrap();
                    return;
                }
                _ => Response::Ok,
            };
            write_message(&mut conn, &response).unwrap();
        }
    }

    #[test]
    fn drives_a_process_through_the_agent() {
        let (_top, path) = socket_path();
        assert!(path.as_os_str().len() > 200);
        fake_agent(&path, echo_agent);
        let mut client = AgentClient::connect(&path, Duration::from_secs(5)).unwrap();
        assert_eq!(client.start("init").unwrap(), 7);
        assert_eq!(client.wait("init").unwrap(), ExitStatus::Code(42));
        client.resize_tty("init", 24, 80).unwrap();
        let err = client.signal("init", 0, false).unwrap_err();
        assert_eq!(err.to_string(), "no such signal");
        let mut stream = client.attach_stream("init", StreamKind::Stdout).unwrap();
        let mut bytes = String::new();
        stream.read_to_string(&mut bytes).unwrap();
        assert_eq!(bytes, "stream bytes");
    }

    #[test]
    fn refused_connection_times_out_with_a_clear_error() {
        let (_top, path) = socket_path();
        let listener = SocketPath::new(&path).unwrap().bind().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        let err = AgentClient::connect(&path, Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(matches!(err, AgentError::Timeout(_)));
    }

    #[test]
    fn wrong_protocol_version_is_named() {
        let (_top, path) = socket_path();
        fake_agent(&path, |mut conn| {
            let _: Request = read_message(&mut conn).unwrap();
            write_message(&mut conn, &Response::Hello { version: 99 }).unwrap();
        });
        let err = AgentClient::connect(&path, Duration::from_secs(5))
            .err()
            .unwrap();
        assert!(err.to_string().contains("version 99"));
    }
}
