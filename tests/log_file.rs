//! What the real binary writes to `--log` and stderr when a command
//! fails, as containerd's shim and conmon read them: the shim shows the
//! `msg` of the last `"level":"error"` JSON line of `--log`
//! (`OCI runtime create failed: <msg>`), so the reason must be there, in
//! runc's shape, after whatever the file held; and with `--debug` but no
//! `--log` (conmon's case), `create`'s stderr, which may be the
//! container's, holds the error and nothing else.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RUNVM: &str = env!("CARGO_BIN_EXE_runvm");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runvm-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `runvm [global...] create --bundle <missing> c1` under `dir`.
fn create_missing_bundle(dir: &Path, global: &[&str]) -> Output {
    Command::new(RUNVM)
        .arg("--root")
        .arg(dir.join("root"))
        .args(global)
        .args(["create", "--bundle"])
        .arg(dir.join("no-such-bundle"))
        .arg("c1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_failed_create_appends_its_reason_as_a_json_error_line() {
    let dir = scratch("json");
    let log = dir.join("log.json");
    std::fs::write(
        &log,
        "{\"level\":\"info\",\"msg\":\"earlier\",\"time\":\"2024-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let out = create_missing_bundle(
        &dir,
        &["--log", log.to_str().unwrap(), "--log-format", "json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    assert_eq!(lines[0]["msg"], "earlier", "the file was appended to");
    let last_error = lines
        .iter()
        .rev()
        .find(|line| line["level"] == "error")
        .unwrap_or_else(|| panic!("no error line in {text}"));
    let msg = last_error["msg"].as_str().unwrap();
    assert!(
        msg.contains("no-such-bundle"),
        "the error does not name the bundle: {msg}"
    );
    let time = last_error["time"].as_str().unwrap();
    assert!(
        humantime::parse_rfc3339(time).is_ok(),
        "time {time} is not RFC 3339"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!("runvm: {msg}\n"),
        "stderr has the same one line"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_create_logs_text_in_runcs_shape() {
    let dir = scratch("text");
    let log = dir.join("log");
    let out = create_missing_bundle(&dir, &["--log", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text.lines().last().unwrap();
    assert!(line.starts_with("time=\""), "{line}");
    assert!(line.contains(" level=error msg=\""), "{line}");
    assert!(line.contains("no-such-bundle"), "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn debug_without_a_log_keeps_creates_stderr_to_the_error() {
    let dir = scratch("stderr");
    let out = create_missing_bundle(&dir, &["--debug"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "only the error: {stderr:?}");
    assert!(
        stderr.starts_with("runvm: ") && stderr.contains("no-such-bundle"),
        "{stderr:?}"
    );
    assert!(!stderr.contains('\u{1b}'), "colour codes: {stderr:?}");
    assert!(out.stdout.is_empty());
    // A verb whose stderr is its own still logs there.
    let out = Command::new(RUNVM)
        .arg("--root")
        .arg(dir.join("root"))
        .args(["--debug", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("level=debug msg=\"runvm starting\""),
        "{stderr:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
