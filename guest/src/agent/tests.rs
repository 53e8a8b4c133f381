//! The agent end to end over Unix socket pairs instead of vsock: no VM, no
//! root. Processes run as the test's own user, so the uid/gid/groups steps
//! are no-ops.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use oci_spec::runtime::Process;
use proto::agent::{ExitStatus, Request, Response, StreamKind, PROTOCOL_VERSION};
use proto::frame::{read_message, write_message};
use serde_json::{json, Value};
use tempfile::TempDir;

use super::socket::{Listener, Stream};
use super::Agent;

/// An agent whose `Shutdown` records the status instead of ending anything.
fn agent() -> (Arc<Agent>, Arc<Mutex<Vec<u8>>>) {
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&statuses);
    let agent = Agent::new(Box::new(move |status| {
        recorded.lock().unwrap().push(status)
    }));
    (agent, statuses)
}

/// A new connection to `agent`, served on its own thread.
fn connect(agent: &Arc<Agent>) -> UnixStream {
    let (host, guest) = UnixStream::pair().unwrap();
    let agent = Arc::clone(agent);
    thread::spawn(move || agent.serve_connection(Stream::from(OwnedFd::from(guest))));
    host
}

fn call(conn: &mut UnixStream, request: &Request) -> Response {
    write_message(conn, request).unwrap();
    read_message(conn).unwrap()
}

/// A control connection, after hello.
fn control(agent: &Arc<Agent>) -> UnixStream {
    let mut conn = connect(agent);
    let hello = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    assert_eq!(
        call(&mut conn, &hello),
        Response::Hello {
            version: PROTOCOL_VERSION
        }
    );
    conn
}

fn attach(agent: &Arc<Agent>, exec_id: &str, stream: StreamKind) -> UnixStream {
    let mut conn = connect(agent);
    let request = Request::AttachStream {
        exec_id: exec_id.into(),
        stream,
    };
    assert_eq!(call(&mut conn, &request), Response::Ok);
    conn
}

fn error(response: Response) -> String {
    match response {
        Response::Error { message } => message,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A process spec for the test's user; `extra` overrides or adds fields.
fn spec(args: &[&str], extra: Value) -> Box<Process> {
    let mut process = json!({
        "args": args,
        "cwd": "/",
        "env": ["PATH=/usr/bin:/bin", "HOME=/"],
        "user": {
            "uid": nix::unistd::getuid().as_raw(),
            "gid": nix::unistd::getgid().as_raw(),
        },
    });
    for (key, value) in extra.as_object().unwrap() {
        process[key] = value.clone();
    }
    Box::new(serde_json::from_value(process).unwrap())
}

fn create(conn: &mut UnixStream, exec_id: &str, process: Box<Process>) -> Response {
    let request = Request::CreateProcess {
        exec_id: exec_id.into(),
        process,
        container: None,
    };
    call(conn, &request)
}

fn start(conn: &mut UnixStream, exec_id: &str) -> Response {
    call(
        conn,
        &Request::Start {
            exec_id: exec_id.into(),
        },
    )
}

fn wait(conn: &mut UnixStream, exec_id: &str) -> Response {
    call(
        conn,
        &Request::Wait {
            exec_id: exec_id.into(),
        },
    )
}

fn read_all(mut conn: UnixStream) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        conn.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

/// A process with pipes, attached and started.
struct Piped {
    stdin: UnixStream,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
    pid: i32,
}

fn run_piped(
    agent: &Arc<Agent>,
    conn: &mut UnixStream,
    exec_id: &str,
    process: Box<Process>,
) -> Piped {
    assert_eq!(create(conn, exec_id, process), Response::Ok);
    let stdin = attach(agent, exec_id, StreamKind::Stdin);
    let stdout = read_all(attach(agent, exec_id, StreamKind::Stdout));
    let stderr = read_all(attach(agent, exec_id, StreamKind::Stderr));
    let pid = match start(conn, exec_id) {
        Response::Started { pid } => pid,
        other => panic!("start: {other:?}"),
    };
    assert!(pid > 0);
    Piped {
        stdin,
        stdout,
        stderr,
        pid,
    }
}

/// Runs `sh -c script` to the end; returns its status and stdout.
fn sh(agent: &Arc<Agent>, script: &str, extra: Value) -> (ExitStatus, String) {
    sh_as(agent, "sh", script, extra)
}

/// `sh`, as the process with `exec_id` (the container's own process is
/// [`proto::agent::INIT_EXEC_ID`]).
fn sh_as(agent: &Arc<Agent>, exec_id: &str, script: &str, extra: Value) -> (ExitStatus, String) {
    let mut conn = control(agent);
    let piped = run_piped(
        agent,
        &mut conn,
        exec_id,
        spec(&["sh", "-c", script], extra),
    );
    drop(piped.stdin);
    let status = match wait(&mut conn, exec_id) {
        Response::Exited { status } => status,
        other => panic!("wait: {other:?}"),
    };
    let stderr = String::from_utf8(piped.stderr.join().unwrap()).unwrap();
    assert_eq!(stderr, "", "stderr of {script}");
    let stdout = String::from_utf8(piped.stdout.join().unwrap()).unwrap();
    (status, stdout)
}

#[test]
fn pipes_carry_stdout_and_stderr_apart_and_the_exit_code() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let process = spec(
        &["/bin/sh", "-c", "echo out; echo err >&2; exit 42"],
        json!({}),
    );
    let piped = run_piped(&agent, &mut conn, "init", process);
    assert_eq!(
        wait(&mut conn, "init"),
        Response::Exited {
            status: ExitStatus::Code(42)
        }
    );
    assert_eq!(piped.stdout.join().unwrap(), b"out\n");
    assert_eq!(piped.stderr.join().unwrap(), b"err\n");
    // Collected: the exec id is free again.
    assert_eq!(error(wait(&mut conn, "init")), "no process init");
}

#[test]
fn output_is_complete_when_wait_answers() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let process = spec(&["sh", "-c", "seq 1 200000"], json!({}));
    assert_eq!(create(&mut conn, "seq", process), Response::Ok);
    let _stdin = attach(&agent, "seq", StreamKind::Stdin);
    let mut stdout = attach(&agent, "seq", StreamKind::Stdout);
    let _stderr = read_all(attach(&agent, "seq", StreamKind::Stderr));
    assert!(matches!(start(&mut conn, "seq"), Response::Started { .. }));
    // Nobody reads stdout yet: the relay blocks once the socket is full,
    // and so must the answer to Wait.
    let waiter = thread::spawn(move || wait(&mut conn, "seq"));
    thread::sleep(Duration::from_millis(300));
    assert!(
        !waiter.is_finished(),
        "Wait answered before stdout was relayed"
    );
    let mut bytes = Vec::new();
    stdout.read_to_end(&mut bytes).unwrap();
    let expected: String = (1..=200000).map(|n| format!("{n}\n")).collect();
    assert_eq!(String::from_utf8(bytes).unwrap(), expected);
    assert_eq!(
        waiter.join().unwrap(),
        Response::Exited {
            status: ExitStatus::Code(0)
        }
    );
}

#[test]
fn wait_after_the_exit_keeps_the_status() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let piped = run_piped(
        &agent,
        &mut conn,
        "quick",
        spec(&["sh", "-c", "exit 3"], json!({})),
    );
    assert_eq!(piped.stdout.join().unwrap(), b"");
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&mut conn, &Request::ListProcesses { container: None })
        != (Response::Processes { processes: vec![] })
    {
        assert!(Instant::now() < deadline, "process did not exit");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        wait(&mut conn, "quick"),
        Response::Exited {
            status: ExitStatus::Code(3)
        }
    );
}

#[test]
fn signal_kills_the_process() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let piped = run_piped(
        &agent,
        &mut conn,
        "sleeper",
        spec(&["sleep", "100"], json!({})),
    );
    let listed = call(&mut conn, &Request::ListProcesses { container: None });
    let Response::Processes { processes } = listed else {
        panic!("list: {listed:?}");
    };
    assert_eq!(processes.len(), 1);
    assert_eq!(
        (processes[0].exec_id.as_str(), processes[0].pid),
        ("sleeper", piped.pid)
    );

    let kill = Request::Signal {
        exec_id: "sleeper".into(),
        signal: 9,
        all: false,
    };
    assert_eq!(call(&mut conn, &kill), Response::Ok);
    assert_eq!(
        wait(&mut conn, "sleeper"),
        Response::Exited {
            status: ExitStatus::Signal(9)
        }
    );
    assert_eq!(
        call(&mut conn, &Request::ListProcesses { container: None }),
        Response::Processes { processes: vec![] }
    );
}

#[test]
fn signal_all_reaches_the_whole_process_group() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    // The background sleep holds stdout open: stdout ends only if it dies too.
    let script = "sleep 100 & wait";
    let piped = run_piped(
        &agent,
        &mut conn,
        "group",
        spec(&["sh", "-c", script], json!({})),
    );
    thread::sleep(Duration::from_millis(200));
    let term = Request::Signal {
        exec_id: "group".into(),
        signal: 15,
        all: true,
    };
    assert_eq!(call(&mut conn, &term), Response::Ok);
    assert_eq!(
        wait(&mut conn, "group"),
        Response::Exited {
            status: ExitStatus::Signal(15)
        }
    );
    assert_eq!(piped.stdout.join().unwrap(), b"");
}

#[test]
fn signal_from_inside_is_reported() {
    let (agent, _) = agent();
    let (status, _) = sh(&agent, "kill -TERM $$", json!({}));
    assert_eq!(status, ExitStatus::Signal(15));
}

#[test]
fn stdin_is_relayed_byte_exact_and_closed_at_its_end() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let mut piped = run_piped(&agent, &mut conn, "cat", spec(&["cat"], json!({})));
    let input: Vec<u8> = (0..1_000_000u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sent = input.clone();
    let writer = thread::spawn(move || {
        piped.stdin.write_all(&sent).unwrap();
        // Closing stdin is the host's end of input: cat sees EOF.
        drop(piped.stdin);
    });
    writer.join().unwrap();
    assert_eq!(
        wait(&mut conn, "cat"),
        Response::Exited {
            status: ExitStatus::Code(0)
        }
    );
    let output = piped.stdout.join().unwrap();
    assert_eq!(output.len(), input.len());
    assert!(output == input, "stdout differs from stdin");
}

/// Creates and starts a terminal process; returns the pty connection.
fn run_tty(
    agent: &Arc<Agent>,
    conn: &mut UnixStream,
    exec_id: &str,
    process: Box<Process>,
) -> UnixStream {
    assert_eq!(create(conn, exec_id, process), Response::Ok);
    let pty = attach(agent, exec_id, StreamKind::Pty);
    assert!(matches!(start(conn, exec_id), Response::Started { .. }));
    pty
}

fn read_until(pty: &mut UnixStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = pty.read(&mut buffer).unwrap();
        assert!(
            n > 0,
            "pty closed before {needle:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn terminal_process_gets_a_pty_as_controlling_tty() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let process = spec(&["sh", "-c", "tty; exit 5"], json!({"terminal": true}));
    let pty = run_tty(&agent, &mut conn, "tty", process);
    let output = read_all(pty);
    assert_eq!(
        wait(&mut conn, "tty"),
        Response::Exited {
            status: ExitStatus::Code(5)
        }
    );
    let output = String::from_utf8(output.join().unwrap()).unwrap();
    assert!(output.starts_with("/dev/pts/"), "tty printed {output:?}");
    // A pty turns \n into \r\n.
    assert!(output.ends_with("\r\n"), "tty printed {output:?}");
}

#[test]
fn resize_and_console_size_set_the_window() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let script = "stty size; read line; stty size; echo \"got $line\"";
    let process = spec(
        &["sh", "-c", script],
        json!({"terminal": true, "consoleSize": {"height": 30, "width": 90}}),
    );
    let mut pty = run_tty(&agent, &mut conn, "resize", process);
    read_until(&mut pty, "30 90\r\n");
    let resize = Request::ResizeTty {
        exec_id: "resize".into(),
        rows: 40,
        cols: 100,
    };
    assert_eq!(call(&mut conn, &resize), Response::Ok);
    pty.write_all(b"hello\r").unwrap();
    let rest = read_until(&mut pty, "got hello\r\n");
    assert!(rest.contains("40 100\r\n"), "after resize: {rest:?}");
    assert_eq!(
        wait(&mut conn, "resize"),
        Response::Exited {
            status: ExitStatus::Code(0)
        }
    );
    // The agent closes the pty connection after the last byte.
    let mut tail = Vec::new();
    pty.read_to_end(&mut tail).unwrap();
}

#[test]
fn spec_env_cwd_umask_rlimits_and_no_new_privileges_apply() {
    let (agent, _) = agent();
    let script = "env | sort; pwd; umask; ulimit -n; grep NoNewPrivs /proc/self/status; \
         cat /proc/self/oom_score_adj; ionice -p $$; id -u; id -g";
    let extra = json!({
        "env": ["PATH=/usr/bin:/bin", "B=2", "A=x=y"],
        "cwd": "/usr/bin",
        "user": {
            "uid": nix::unistd::getuid().as_raw(),
            "gid": nix::unistd::getgid().as_raw(),
            "umask": 0o27,
            "additionalGids": current_groups(),
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}],
        "noNewPrivileges": true,
        "oomScoreAdj": 500,
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6},
    });
    let (status, stdout) = sh(&agent, script, extra);
    assert_eq!(status, ExitStatus::Code(0));
    let lines: Vec<&str> = stdout.lines().collect();
    let uid = nix::unistd::getuid().to_string();
    let gid = nix::unistd::getgid().to_string();
    // sh adds PWD (and maybe SHLVL / _), nothing of the agent's own.
    let env: Vec<&str> = lines
        .iter()
        .copied()
        .take_while(|line| line.contains('='))
        .filter(|line| !["PWD=", "SHLVL=", "_="].iter().any(|p| line.starts_with(p)))
        .collect();
    assert_eq!(env, ["A=x=y", "B=2", "PATH=/usr/bin:/bin"]);
    let rest = &lines[lines.len() - 8..];
    assert_eq!(rest[0], "/usr/bin");
    assert_eq!(rest[1], "0027");
    assert_eq!(rest[2], "100");
    assert_eq!(
        rest[3].split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
    assert_eq!(rest[4], "500");
    assert_eq!(rest[5], "best-effort: prio 6");
    assert_eq!(rest[6], uid);
    assert_eq!(rest[7], gid);
}

fn current_groups() -> Vec<u32> {
    nix::unistd::getgroups()
        .unwrap()
        .into_iter()
        .map(|gid| gid.as_raw())
        .collect()
}

#[test]
fn without_path_the_program_is_found_in_the_default_path() {
    let (agent, _) = agent();
    let (status, stdout) = sh(
        &agent,
        "echo \"$FOO${PATH:-nopath}\"",
        json!({"env": ["FOO=bar"]}),
    );
    assert_eq!(status, ExitStatus::Code(0));
    // sh found via the default PATH; the process's env still has no PATH
    // (dash then uses its own default, bash prints nothing).
    assert!(stdout.starts_with("bar"), "{stdout:?}");
}

/// One capability set of this process, from /proc/self/status.
fn own_caps(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with(name)).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[test]
fn capabilities_are_set_as_listed() {
    let (agent, _) = agent();
    const CHOWN_AND_KILL: u64 = 1 << 0 | 1 << 5;
    const SETPCAP: u64 = 1 << 8;
    // With CAP_SETPCAP (root) the bounding set really shrinks; without it
    // only sets we already have can be asked for, and only emptied.
    let (bounding, kept) = if own_caps("CapEff:") & SETPCAP != 0 {
        (CHOWN_AND_KILL, CHOWN_AND_KILL)
    } else {
        (own_caps("CapBnd:"), 0)
    };
    let names = |set: u64| -> Vec<&str> {
        (0..41)
            .filter(|bit| set & 1 << bit != 0)
            .map(cap_name)
            .collect()
    };
    let extra = json!({
        "capabilities": {
            "bounding": names(bounding),
            "effective": names(kept),
            "permitted": names(kept),
            "inheritable": [],
            "ambient": [],
        }
    });
    let (status, stdout) = sh(
        &agent,
        "grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status",
        extra,
    );
    assert_eq!(status, ExitStatus::Code(0));
    let value = |name: &str| {
        let line = stdout.lines().find(|line| line.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(value("CapBnd:"), bounding);
    // Across exec, uid 0 gets the whole bounding set again; anyone else
    // keeps only what it had (no ambient capabilities here).
    let effective = if nix::unistd::getuid().is_root() {
        bounding
    } else {
        kept
    };
    assert_eq!(value("CapEff:"), effective);
    assert_eq!(value("CapPrm:"), effective);
    assert_eq!(value("CapAmb:"), 0);
}

#[test]
fn no_capabilities_object_means_no_capabilities() {
    // runc's reading: a process spec without `capabilities` gets none,
    // even as root (never the agent's own full set).
    let (agent, _) = agent();
    let (status, stdout) = sh(
        &agent,
        "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status",
        json!({}),
    );
    assert_eq!(status, ExitStatus::Code(0));
    let sets: Vec<&str> = stdout.lines().collect();
    assert_eq!(sets.len(), 5, "{stdout}");
    for line in sets {
        let value = line.split_whitespace().nth(1).unwrap();
        assert_eq!(u64::from_str_radix(value, 16).unwrap(), 0, "{line}");
    }
}

fn cap_name(bit: u32) -> &'static str {
    const NAMES: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    NAMES[bit as usize]
}

#[test]
fn bad_process_specs_are_refused_with_the_reason() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    let cases = [
        (json!({"args": []}), "process.args is empty"),
        (json!({"cwd": "tmp"}), "process.cwd tmp is not absolute"),
        (json!({"cwd": "/nope"}), "cwd /nope does not exist"),
        (
            json!({"cwd": "/etc/passwd"}),
            "cwd /etc/passwd is not a directory",
        ),
        (
            json!({"env": ["NOEQUALS"]}),
            "process.env entry \"NOEQUALS\" is not KEY=VALUE",
        ),
        (
            json!({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]}),
            "process.rlimits: RLIMIT_NOFILE soft limit exceeds hard limit",
        ),
        (
            json!({"oomScoreAdj": 1001}),
            "process.oomScoreAdj 1001 is outside -1000..=1000",
        ),
        (
            json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}),
            "process.ioPriority.priority 8 is outside 0..=7",
        ),
        (
            json!({"scheduler": {"policy": "SCHED_OTHER"}}),
            "process.scheduler is not supported",
        ),
    ];
    for (extra, message) in cases {
        let response = create(&mut conn, "bad", spec(&["true"], extra));
        assert_eq!(error(response), message);
    }
    assert_eq!(
        error(create(&mut conn, "", spec(&["true"], json!({})))),
        "exec_id is empty"
    );
}

#[test]
fn lifecycle_mistakes_are_errors() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    assert_eq!(error(start(&mut conn, "ghost")), "no process ghost");
    assert_eq!(error(wait(&mut conn, "ghost")), "no process ghost");
    let kill = Request::Signal {
        exec_id: "ghost".into(),
        signal: 9,
        all: false,
    };
    assert_eq!(error(call(&mut conn, &kill)), "no process ghost");

    assert_eq!(
        create(&mut conn, "p", spec(&["cat"], json!({}))),
        Response::Ok
    );
    assert_eq!(
        error(create(&mut conn, "p", spec(&["cat"], json!({})))),
        "process p already exists"
    );
    assert_eq!(error(wait(&mut conn, "p")), "process p is not started");
    let kill = Request::Signal {
        exec_id: "p".into(),
        signal: 9,
        all: false,
    };
    assert_eq!(error(call(&mut conn, &kill)), "process p is not started");
    let resize = Request::ResizeTty {
        exec_id: "p".into(),
        rows: 1,
        cols: 1,
    };
    assert_eq!(error(call(&mut conn, &resize)), "process p has no terminal");

    let stdin = attach(&agent, "p", StreamKind::Stdin);
    assert_eq!(error(start(&mut conn, "p")), "stdout of p is not attached");
    let mut again = connect(&agent);
    let request = Request::AttachStream {
        exec_id: "p".into(),
        stream: StreamKind::Stdin,
    };
    assert_eq!(
        error(call(&mut again, &request)),
        "stdin of p is already attached"
    );
    let mut pty = connect(&agent);
    let request = Request::AttachStream {
        exec_id: "p".into(),
        stream: StreamKind::Pty,
    };
    assert_eq!(
        error(call(&mut pty, &request)),
        "process p has no pty stream"
    );
    let stdout = read_all(attach(&agent, "p", StreamKind::Stdout));
    let _stderr = read_all(attach(&agent, "p", StreamKind::Stderr));
    assert!(matches!(start(&mut conn, "p"), Response::Started { .. }));
    assert_eq!(error(start(&mut conn, "p")), "process p is already started");
    drop(stdin);
    assert_eq!(
        wait(&mut conn, "p"),
        Response::Exited {
            status: ExitStatus::Code(0)
        }
    );
    assert_eq!(stdout.join().unwrap(), b"");
    assert_eq!(
        error(call(
            &mut conn,
            &Request::Hello {
                version: PROTOCOL_VERSION
            }
        )),
        "hello was already said"
    );
}

#[test]
fn exec_and_setup_failures_say_what_failed() {
    let (agent, _) = agent();
    let mut conn = control(&agent);
    for (exec_id, args, extra, message) in [
        (
            "missing",
            vec!["no-such-program"],
            json!({}),
            "exec no-such-program: no such file or directory",
        ),
        (
            "notexec",
            vec!["/etc/passwd"],
            json!({}),
            "exec /etc/passwd: permission denied",
        ),
        (
            "rlimit",
            vec!["true"],
            // Above fs.nr_open: refused even with CAP_SYS_RESOURCE.
            json!({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1u64 << 40, "hard": 1u64 << 40}]}),
            "process setup failed at rlimits: operation not permitted",
        ),
    ] {
        assert_eq!(create(&mut conn, exec_id, spec(&args, extra)), Response::Ok);
        let _stdin = attach(&agent, exec_id, StreamKind::Stdin);
        let stdout = read_all(attach(&agent, exec_id, StreamKind::Stdout));
        let _stderr = read_all(attach(&agent, exec_id, StreamKind::Stderr));
        assert_eq!(error(start(&mut conn, exec_id)), message);
        // The streams end and the exec id is forgotten.
        assert_eq!(stdout.join().unwrap(), b"");
        assert_eq!(
            error(wait(&mut conn, exec_id)),
            format!("no process {exec_id}")
        );
    }
}

#[test]
fn hello_with_another_version_is_refused() {
    let (agent, _) = agent();
    let mut conn = connect(&agent);
    let message = error(call(&mut conn, &Request::Hello { version: 99 }));
    assert_eq!(
        message,
        format!("protocol version 99 is not supported (agent speaks {PROTOCOL_VERSION})")
    );
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    let mut conn = connect(&agent);
    let message = error(call(&mut conn, &Request::ListProcesses { container: None }));
    assert_eq!(
        message,
        "a connection must start with hello or attach_stream"
    );
}

#[test]
fn shutdown_answers_then_powers_off() {
    let (agent, statuses) = agent();
    let mut conn = control(&agent);
    assert_eq!(
        call(&mut conn, &Request::Shutdown { status: 7 }),
        Response::Ok
    );
    // The next answer proves the power-off already ran.
    assert!(matches!(
        call(&mut conn, &Request::ListProcesses { container: None }),
        Response::Processes { .. }
    ));
    assert_eq!(*statuses.lock().unwrap(), [7]);
}

/// Reads until the peer closes (a reset counts: the agent may close with
/// our garbage unread); true if it sent no more than an optional Error.
fn closed_after_error(conn: &mut UnixStream) -> bool {
    let mut rest = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match conn.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading: {e}"),
        }
    }
    if rest.is_empty() {
        return true;
    }
    let mut reader = rest.as_slice();
    matches!(
        read_message::<Response>(&mut reader),
        Ok(Response::Error { .. })
    ) && reader.is_empty()
}

#[test]
fn garbage_closes_the_connection_and_the_agent_keeps_serving() {
    let (agent, _) = agent();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = Listener::from(OwnedFd::from(UnixListener::bind(&path).unwrap()));
    let serving = Arc::clone(&agent);
    thread::spawn(move || serving.serve(&listener));

    let garbage: [&[u8]; 4] = [
        b"\x00\x00\x00\x03{x}",
        b"\xff\xff\xff\xffAAAA",
        b"\x00\x00\x00\x13{\"request\":\"nope\"}",
        b"\x00\x00",
    ];
    for bytes in garbage {
        let mut conn = UnixStream::connect(&path).unwrap();
        conn.write_all(bytes).unwrap();
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed_after_error(&mut conn), "after {bytes:?}");
    }
    // Garbage after a good hello closes that connection too.
    let mut conn = UnixStream::connect(&path).unwrap();
    let hello = Request::Hello {
        version: PROTOCOL_VERSION,
    };
    assert!(matches!(call(&mut conn, &hello), Response::Hello { .. }));
    conn.write_all(b"\x00\x00\x00\x02[]").unwrap();
    assert!(closed_after_error(&mut conn));

    let mut conn = UnixStream::connect(&path).unwrap();
    assert!(matches!(call(&mut conn, &hello), Response::Hello { .. }));
    assert!(matches!(
        call(&mut conn, &Request::ListProcesses { container: None }),
        Response::Processes { .. }
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn orphans_are_reaped() {
    // Make this test process the reaper of its descendants, as PID 1 is.
    // SAFETY: prctl with integer arguments reads and writes no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(rc, 0);
    let (agent, _) = agent();
    let (status, stdout) = sh(
        &agent,
        "sleep 0.3 >/dev/null 2>&1 & echo $!; exit 4",
        json!({}),
    );
    assert_eq!(status, ExitStatus::Code(4));
    let orphan = stdout.trim();
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_our_child(orphan) {
        assert!(Instant::now() < deadline, "orphan {orphan} not reaped");
        thread::sleep(Duration::from_millis(50));
    }
}

/// True while `pid` exists (running or a zombie) as a child of this process.
fn is_our_child(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some((_, tail)) = stat.rsplit_once(')') else {
        return false;
    };
    tail.split_whitespace().nth(1) == Some(&std::process::id().to_string())
}

/// A test directory removed at the end.
/// A share as the host lays it out: `rootfs/` mirroring the host's
/// merged-/usr symlinks (the host's /usr is bind-mounted in, so the
/// container has a shell), `mounts/0` a file, `mounts/1` a directory;
/// and a symlink `evil -> /` in the rootfs.
fn scratch_share() -> TempDir {
    let scratch = tempfile::tempdir().unwrap();
    let share = scratch.path().join("share-source");
    let rootfs = share.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    for name in ["bin", "sbin", "lib", "lib64"] {
        if let Ok(target) = std::fs::read_link(std::path::Path::new("/").join(name)) {
            std::os::unix::fs::symlink(target, rootfs.join(name)).unwrap();
        }
    }
    std::os::unix::fs::symlink("/", rootfs.join("evil")).unwrap();
    std::fs::create_dir_all(share.join("mounts/1")).unwrap();
    std::fs::write(share.join("mounts/0"), "10.0.0.1 box\n").unwrap();
    scratch
}

/// A container as docker's default spec makes one, built in a private
/// mount namespace (needs root; skipped otherwise).
fn container_agent(scratch: &TempDir) -> Option<Arc<Agent>> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting needs root");
        return None;
    }
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
            "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/usr", "type": "bind", "source": "/usr",
            "options": ["rbind", "ro"]}),
        json!({"destination": "/etc/hosts", "type": "bind", "source": "mounts/0",
            "options": ["rbind", "rprivate", "ro"]}),
        json!({"destination": "/data", "type": "bind", "source": "mounts/1",
            "options": ["rbind", "rprivate"]}),
        json!({"destination": "/evil/tmp", "type": "tmpfs", "source": "tmpfs"}),
    ];
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
            "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}));
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "process": {"cwd": "/evil/work/dir", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}],
            "maskedPaths": ["/proc/kcore", "/proc/version", "/proc/nothing", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/nothing"],
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                "fileMode": 438}],
        },
    });
    let spec: oci_spec::runtime::Spec = serde_json::from_value(spec).unwrap();
    let source = scratch.path().join("share-source");
    let layout = super::container::Layout {
        share: scratch.path().join("share"),
        root: scratch.path().join("root"),
    };
    let bind_share = Box::new(move |dir: &std::path::Path| {
        let flags = nix::mount::MsFlags::MS_BIND;
        nix::mount::mount(Some(&source), dir, None::<&str>, flags, None::<&str>)
    });
    let container =
        super::container::create_with(&spec, layout, Default::default(), bind_share).unwrap();
    // Everything was mounted in the container's own namespace.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(scratch.path().to_str().unwrap()),
        "{mountinfo}"
    );
    let (agent, _) = agent();
    agent.set_container(container);
    Some(agent)
}

#[test]
fn container_processes_run_inside_its_root_with_its_mounts() {
    let scratch = scratch_share();
    let Some(agent) = container_agent(&scratch) else {
        return;
    };
    let script = r#"
        echo "cwd=$(pwd)"
        cd ..; cd ..; echo "up=$(pwd) $(ls / | tr '\n' ' ')"
        echo "hosts=$(cat /etc/hosts)"
        echo "dev=$(ls /dev | tr '\n' ' ')"
        echo "null=$(readlink /dev/ptmx) $(readlink /dev/fd) $(echo x > /dev/null && echo ok)"
        echo "version=$(wc -c < /proc/version) firmware=$(ls /sys/firmware | wc -l)"
        touch /rootfile 2>/dev/null || echo "root read-only"
        (echo >> /etc/hosts) 2>/dev/null || echo "hosts read-only"
        (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo "proc/sys read-only"
        touch /data/made && echo "data writable"
        touch /tmp/made && echo "tmp writable"
        test -d /run/runvm || echo "no agent root"
        pids=$(ls /proc | grep -c '^[0-9]')
        echo "pid=$$ init=$(cat /proc/1/comm) few pids: $([ "$pids" -lt 8 ] && echo yes)"
        echo "order=$(while read -r id parent dev root point rest; do echo "$point"; done </proc/self/mountinfo | tr '\n' ' ')"
        echo "proc source=$(grep ' /proc proc ' /proc/self/mounts | cut -d' ' -f1)"
    "#;
    let (status, stdout) = sh_as(
        &agent,
        proto::agent::INIT_EXEC_ID,
        script,
        json!({"cwd": "/evil/data"}),
    );
    assert_eq!(status, ExitStatus::Code(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "cwd=/data");
    assert!(lines[1].starts_with("up=/ "), "{stdout}");
    for entry in [
        "bin", "data", "dev", "etc", "evil", "proc", "sys", "tmp", "usr",
    ] {
        assert!(lines[1].contains(&format!(" {entry} ")), "{stdout}");
    }
    assert_eq!(lines[2], "hosts=10.0.0.1 box");
    for entry in [
        "full", "fuse", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ] {
        assert!(
            lines[3].contains(&format!(" {entry} "))
                || lines[3].starts_with(&format!("dev={entry} ")),
            "{stdout}"
        );
    }
    assert_eq!(lines[4], "null=pts/ptmx /proc/self/fd ok");
    assert_eq!(lines[5], "version=0 firmware=0");
    assert_eq!(
        &lines[6..13],
        [
            "root read-only",
            "hosts read-only",
            "proc/sys read-only",
            "data writable",
            "tmp writable",
            "no agent root",
            // Its own PID namespace, and a /proc that shows it: the shell
            // and its short-lived children, none of the host's processes.
            "pid=1 init=sh few pids: yes",
        ]
    );
    // The init made the mounts from /proc on again, in the spec's order
    // (/sys/fs/cgroup where the host has cgroup v2), with the masks and
    // read-only paths after them (those that exist here).
    let order = lines[13].strip_prefix("order=").unwrap_or_default();
    assert!(
        order.starts_with(
            "/ /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /usr /etc/hosts /data /tmp "
        ),
        "{order}"
    );
    assert!(
        order.contains(" /proc/version /sys/firmware /proc/sys "),
        "{order}"
    );
    let share = scratch.path().join("share-source");
    assert!(share.join("mounts/1/made").exists());
    // The tmpfs meant for /evil/tmp landed inside the root, not on the
    // host's /tmp.
    assert!(share.join("rootfs/tmp").is_dir());
    assert!(share.join("rootfs/work/dir").is_dir());
    assert!(!std::path::Path::new("/tmp/made").exists());
}

#[test]
fn container_cwd_and_programs_resolve_inside_the_root() {
    let scratch = scratch_share();
    let Some(agent) = container_agent(&scratch) else {
        return;
    };
    let mut conn = control(&agent);
    let cases = [
        (
            json!({"cwd": "/proc/self/fd/0"}),
            "cwd /proc/self/fd/0 goes through a /proc magic link",
        ),
        (
            json!({"cwd": "/run/runvm"}),
            "cwd /run/runvm does not exist",
        ),
        (
            json!({"cwd": "/etc/hosts"}),
            "cwd /etc/hosts is not a directory",
        ),
    ];
    for (extra, message) in cases {
        let response = create(&mut conn, "bad", spec(&["true"], extra));
        assert_eq!(error(response), message);
    }
    // The share's rootfs has no /tmp/..; the agent's programs are not
    // looked up.
    let response = create(
        &mut conn,
        "missing",
        spec(&["runvm-no-such-program"], json!({})),
    );
    assert_eq!(response, Response::Ok);
    let _ = attach(&agent, "missing", StreamKind::Stdin);
    let _ = attach(&agent, "missing", StreamKind::Stdout);
    let _ = attach(&agent, "missing", StreamKind::Stderr);
    assert_eq!(
        error(start(&mut conn, "missing")),
        "exec runvm-no-such-program: no such file or directory"
    );
    // A terminal comes from the container's own devpts.
    let script = "tty; ls /dev/pts | tr '\\n' ' '; exit 3";
    let process = spec(&["sh", "-c", script], json!({"terminal": true}));
    let pty = read_all(run_tty(&agent, &mut conn, "tty", process));
    let exited = Response::Exited {
        status: ExitStatus::Code(3),
    };
    assert_eq!(wait(&mut conn, "tty"), exited);
    let output = String::from_utf8(pty.join().unwrap()).unwrap();
    assert_eq!(output, "/dev/pts/0\r\n0 ptmx ");
    let spec_json = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}});
    let request = Request::CreateContainer {
        spec: Box::new(serde_json::from_value(spec_json).unwrap()),
    };
    assert_eq!(
        error(call(&mut conn, &request)),
        "the container is already created"
    );
}

#[test]
fn container_setup_failures_name_the_mount_and_leave_no_mounts() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting needs root");
        return;
    }
    let scratch = scratch_share();
    std::fs::write(scratch.path().join("share-source/rootfs/file"), "").unwrap();
    let cases = [
        (
            json!({"destination": "/x", "type": "bind", "source": "mounts/9"}),
            "mount /x: source: no such file or directory",
        ),
        (
            json!({"destination": "/evil/file/x", "type": "bind", "source": "mounts/0"}),
            "mount /evil/file/x: mount point: not a directory",
        ),
        (
            json!({"destination": "/t", "type": "tmpfs", "options": ["size=lots"]}),
            "mount /t: mount: invalid argument",
        ),
    ];
    for (mount, message) in cases {
        let spec = json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [mount],
        });
        let spec: oci_spec::runtime::Spec = serde_json::from_value(spec).unwrap();
        let source = scratch.path().join("share-source");
        let layout = super::container::Layout {
            share: scratch.path().join("share"),
            root: scratch.path().join("root"),
        };
        let bind_share = Box::new(move |dir: &std::path::Path| {
            let flags = nix::mount::MsFlags::MS_BIND;
            nix::mount::mount(Some(&source), dir, None::<&str>, flags, None::<&str>)
        });
        let error = super::container::create_with(&spec, layout, Default::default(), bind_share)
            .unwrap_err();
        assert_eq!(error.to_string(), message);
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(scratch.path().to_str().unwrap()),
        "{mountinfo}"
    );
}

/// The agent serving in a network namespace of its own, where a veth end
/// plays the virtio-net device.
#[test]
fn configure_network_names_and_addresses_the_device_with_the_mac() {
    rtnl::testing::in_new_network_namespace(|| {
        let mut rtnl = rtnl::Rtnl::open().unwrap();
        rtnl.add_veth("ve0", "ve1").unwrap();
        let device = rtnl.link("ve0").unwrap().unwrap();
        let (agent, _) = agent();
        let mut conn = control(&agent);
        let network: proto::net::NetworkConfig = serde_json::from_value(json!({
            "interfaces": [{"name": "eth0", "mac": device.mac.unwrap(), "mtu": 1450,
                            "addresses": [{"address": "10.88.0.5", "prefix_len": 16}]}],
        }))
        .unwrap();
        let request = Request::ConfigureNetwork {
            network: Box::new(network.clone()),
        };
        assert_eq!(call(&mut conn, &request), Response::Ok);
        let eth0 = rtnl.link("eth0").unwrap().unwrap();
        assert_eq!((eth0.index, eth0.mtu, eth0.up), (device.index, 1450, true));
        assert_eq!(rtnl.addresses(eth0.index).unwrap().len(), 1);

        let mut elsewhere = network;
        elsewhere.interfaces[0].mac = [2, 0, 0, 0, 0, 9];
        let request = Request::ConfigureNetwork {
            network: Box::new(elsewhere),
        };
        assert_eq!(
            error(call(&mut conn, &request)),
            "interface eth0: no network device has MAC 02:00:00:00:00:09"
        );
    });
}

/// A container with `namespaces` and `hostname` whose rootfs is `root`
/// under a scratch share (needs root), joining `joined`.
fn bare_container(
    scratch: &TempDir,
    root: &str,
    namespaces: serde_json::Value,
    hostname: Option<&str>,
    joined: super::container::Joined,
) -> super::container::Container {
    let source = scratch.path().join("share-source");
    std::fs::create_dir_all(source.join(root)).unwrap();
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "root": {"path": root},
        "linux": {"namespaces": namespaces},
    });
    if let Some(hostname) = hostname {
        spec["hostname"] = json!(hostname);
    }
    let spec: oci_spec::runtime::Spec = serde_json::from_value(spec).unwrap();
    let layout = super::container::Layout {
        share: scratch
            .path()
            .join(format!("share-{}", root.replace('/', "-"))),
        root: scratch
            .path()
            .join(format!("root-{}", root.replace('/', "-"))),
    };
    let bind_share = Box::new(move |dir: &std::path::Path| {
        let flags = nix::mount::MsFlags::MS_BIND;
        nix::mount::mount(Some(&source), dir, None::<&str>, flags, None::<&str>)
    });
    super::container::create_with(&spec, layout, joined, bind_share).unwrap()
}

#[test]
fn a_pod_member_joins_the_first_containers_uts_and_ipc_namespaces() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting needs root");
        return;
    }
    let scratch = scratch_share();
    let namespace = |fd: Option<std::os::fd::BorrowedFd>| {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&fd.unwrap());
        std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap()
    };
    let first = bare_container(
        &scratch,
        "rootfs",
        json!([{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]),
        Some("pod-first"),
        Default::default(),
    );
    let shared = proto::agent::SharedNamespaces {
        uts: true,
        ipc: false,
    };
    let member = bare_container(
        &scratch,
        "members/m/rootfs",
        json!([{"type": "mount"}, {"type": "ipc"}]),
        Some("set-by-member"),
        first.shared(shared).unwrap(),
    );
    assert_eq!(namespace(member.uts()), namespace(first.uts()));
    // The member's hostname went into the shared namespace, as runc sets
    // it in a joined one.
    let uts = first.uts().unwrap().try_clone_to_owned().unwrap();
    let seen = thread::spawn(move || {
        nix::sched::setns(uts, nix::sched::CloneFlags::CLONE_NEWUTS).unwrap();
        nix::unistd::gethostname().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(seen, "set-by-member");
    assert_ne!(namespace(member.ipc()), namespace(first.ipc()));
    // The guest's own namespaces are untouched.
    assert_ne!(
        std::fs::read_link("/proc/self/ns/uts").unwrap(),
        namespace(first.uts())
    );
}
