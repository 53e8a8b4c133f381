//! OCI hooks. The runtime namespace is the host's: prestart,
//! createRuntime, poststart and poststop run here, from the monitor (or
//! `delete`). The container namespace is the guest's: createContainer and
//! startContainer run there, through the agent, with their path resolved
//! in the container's root (the host's binaries are not in the VM). Each
//! gets the container's state JSON on stdin and its `timeout` in seconds.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, ProcessBuilder, UserBuilder};
use proto::agent::{ExitStatus, StreamKind};

use crate::agent_client::{AgentClient, AgentError};

/// How much of a failed hook's output the error quotes.
const OUTPUT_LIMIT: usize = 512;
/// How long a failed hook's output may take to close after it exited.
const OUTPUT_WAIT: Duration = Duration::from_secs(1);
/// How often a host hook is checked for its end.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {}: starting it", .path.display())]
    Spawn {
        kind: &'static str,
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{kind} hook {}: {status}{}", .path.display(), quoted(.output))]
    Failed {
        kind: &'static str,
        path: PathBuf,
        status: String,
        output: String,
    },
    #[error("{kind} hook {}: timed out after {secs} s", .path.display())]
    Timeout {
        kind: &'static str,
        path: PathBuf,
        secs: i64,
    },
    #[error("{kind} hook {}: in the guest", .path.display())]
    Agent {
        kind: &'static str,
        path: PathBuf,
        #[source]
        error: AgentError,
    },
    #[error("{kind} hook {}: building its process", .path.display())]
    Process {
        kind: &'static str,
        path: PathBuf,
        #[source]
        error: oci_spec::OciSpecError,
    },
}

fn quoted(output: &str) -> String {
    let output = output.trim();
    if output.is_empty() {
        String::new()
    } else {
        format!(": {output:?}")
    }
}

/// The last [`OUTPUT_LIMIT`] bytes of `bytes` as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(OUTPUT_LIMIT);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn describe(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(code) => format!("exit status {code}"),
        ExitStatus::Signal(signal) => format!("killed by signal {signal}"),
    }
}

fn timeout_of(hook: &Hook) -> Option<Duration> {
    hook.timeout()
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
}

/// Runs `hooks` of `kind` on the host, one after the other, each with
/// `state` (JSON) on stdin; stops at the first failure.
pub fn run_on_host(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    hooks
        .iter()
        .try_for_each(|hook| run_one_on_host(kind, hook, state))
}

fn run_one_on_host(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let mut command = Command::new(&path);
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut command, arg0);
            command.args(rest);
        }
    }
    if let Some(env) = hook.env() {
        command.env_clear();
        command.envs(env.iter().filter_map(|entry| entry.split_once('=')));
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| HookError::Spawn {
            kind,
            path: path.clone(),
            error,
        })?;
    let output = collect_output(&mut child);
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin closes it early: not a
        // failure in itself.
        let _ = stdin.write_all(state);
    }
    let deadline = timeout_of(hook).map(|t| Instant::now() + t);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout {
                    kind,
                    path,
                    secs: hook.timeout().unwrap_or(0),
                });
            }
            Ok(None) => std::thread::sleep(POLL_INTERVAL),
            Err(error) => return Err(HookError::Spawn { kind, path, error }),
        }
    };
    if status.success() {
        return Ok(());
    }
    let status = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => describe(ExitStatus::Code(code)),
        (None, Some(signal)) => describe(ExitStatus::Signal(signal)),
        (None, None) => "ended".to_string(),
    };
    Err(HookError::Failed {
        kind,
        path,
        status,
        // A background child of the hook may hold its output open.
        output: output
            .recv_timeout(OUTPUT_WAIT)
            .map(|bytes| tail(&bytes))
            .unwrap_or_default(),
    })
}

/// Reads each stream to its end on a thread of its own, so a hook that
/// fills one pipe while the other is read never blocks.
fn read_on_threads<R: Read + Send + 'static>(
    streams: impl IntoIterator<Item = R>,
) -> Vec<std::thread::JoinHandle<Vec<u8>>> {
    streams
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = stream.read_to_end(&mut bytes);
                bytes
            })
        })
        .collect()
}

/// Reads the child's stdout and stderr to their end on threads; the
/// receiver yields both, concatenated, once they are closed.
fn collect_output(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    let streams: Vec<Box<dyn Read + Send>> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .collect();
    std::thread::spawn(move || {
        let all: Vec<u8> = read_on_threads(streams)
            .into_iter()
            .flat_map(|reader| reader.join().unwrap_or_default())
            .collect();
        let _ = tx.send(all);
    });
    rx
}

/// Runs `hooks` of `kind` in the guest, in the container, through
/// `agent`, each as a process with `state` on stdin.
pub fn run_in_guest(
    kind: &'static str,
    hooks: &[Hook],
    state: &[u8],
    agent: &AgentClient,
) -> Result<(), HookError> {
    for (n, hook) in hooks.iter().enumerate() {
        let path = hook.path().clone();
        let agent_error = |error| HookError::Agent {
            kind,
            path: path.clone(),
            error,
        };
        let process = guest_process(hook).map_err(|error| HookError::Process {
            kind,
            path: path.clone(),
            error,
        })?;
        let exec_id = format!("hook-{kind}-{n}");
        let mut control = agent.try_clone().map_err(agent_error)?;
        control
            .create_process(&exec_id, &process)
            .map_err(agent_error)?;
        let mut stdin = agent
            .attach_stream(&exec_id, StreamKind::Stdin)
            .map_err(agent_error)?;
        let stdout = agent
            .attach_stream(&exec_id, StreamKind::Stdout)
            .map_err(agent_error)?;
        let stderr = agent
            .attach_stream(&exec_id, StreamKind::Stderr)
            .map_err(agent_error)?;
        control.start(&exec_id).map_err(agent_error)?;
        let _ = stdin.write_all(state);
        let _ = stdin.shutdown(std::net::Shutdown::Both);
        let readers = read_on_threads([stdout, stderr]);
        let (done_tx, done_rx) = channel();
        let mut waiter = control.try_clone().map_err(agent_error)?;
        let wait_id = exec_id.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(waiter.wait(&wait_id));
        });
        let result = match timeout_of(hook) {
            Some(timeout) => done_rx.recv_timeout(timeout).ok(),
            None => done_rx.recv().ok(),
        };
        let status = match result {
            Some(status) => status.map_err(agent_error)?,
            None => {
                let _ = control.signal(&exec_id, libc::SIGKILL, false);
                return Err(HookError::Timeout {
                    kind,
                    path,
                    secs: hook.timeout().unwrap_or(0),
                });
            }
        };
        if status != ExitStatus::Code(0) {
            let output: Vec<u8> = readers
                .into_iter()
                .flat_map(|reader| reader.join().unwrap_or_default())
                .collect();
            return Err(HookError::Failed {
                kind,
                path,
                status: describe(status),
                output: tail(&output),
            });
        }
    }
    Ok(())
}

/// A guest hook as an OCI process: its path, its arguments after the
/// first, its environment, as root in the container's root directory.
fn guest_process(hook: &Hook) -> Result<oci_spec::runtime::Process, oci_spec::OciSpecError> {
    let mut args = vec![hook.path().display().to_string()];
    args.extend(hook.args().iter().flatten().skip(1).cloned());
    ProcessBuilder::default()
        .args(args)
        .env(hook.env().clone().unwrap_or_default())
        .cwd("/")
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .terminal(false)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        let mut builder = HookBuilder::default()
            .path("/bin/sh")
            .args(args.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        builder.build().unwrap()
    }

    #[test]
    fn host_hooks_get_the_state_on_stdin_in_order() {
        let dir = std::env::temp_dir().join(format!("runvm-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let script = format!("cat >>{0}; echo \" $0\" >>{0}", out.display());
        let hooks = [
            hook(&["first", "-c", &script], None),
            hook(&["second", "-c", &script], None),
        ];
        run_on_host("prestart", &hooks, br#"{"id":"c1"}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c1\"} first\n{\"id\":\"c1\"} second\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_hook_stops_the_rest_and_says_why() {
        let hooks = [
            hook(&["sh", "-c", "echo broken >&2; exit 3"], None),
            hook(&["sh", "-c", "exit 0"], None),
        ];
        let err = run_on_host("createRuntime", &hooks, b"{}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "createRuntime hook /bin/sh: exit status 3: \"broken\""
        );
    }

    #[test]
    fn a_slow_hook_times_out_and_is_killed() {
        let started = Instant::now();
        let err = run_on_host(
            "prestart",
            &[hook(&["sh", "-c", "sleep 30"], Some(1))],
            b"{}",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "prestart hook /bin/sh: timed out after 1 s"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_missing_hook_binary_is_named() {
        let missing = HookBuilder::default()
            .path("/nonexistent/hook")
            .build()
            .unwrap();
        let err = run_on_host("poststop", &[missing], b"{}").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("poststop hook /nonexistent/hook: starting it"));
    }

    #[test]
    fn guest_hooks_keep_path_args_and_env() {
        let hook = HookBuilder::default()
            .path("/usr/bin/hook")
            .args(vec!["hook".to_string(), "--flag".to_string()])
            .env(vec!["A=1".to_string()])
            .build()
            .unwrap();
        let process = guest_process(&hook).unwrap();
        assert_eq!(process.args().clone().unwrap(), ["/usr/bin/hook", "--flag"]);
        assert_eq!(process.env().clone().unwrap(), ["A=1"]);
        assert_eq!(process.cwd(), &PathBuf::from("/"));
    }
}
