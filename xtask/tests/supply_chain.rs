//! The dependency tree against the policy in `deny.toml`: licenses, bans
//! and sources always; advisories when the advisory database can be had.
//! cargo-deny is installed by scripts/setup.sh; without it these tests fail.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Long enough to clone the advisory database, short enough that a
/// network that swallows packets does not hang the test suite.
const ADVISORY_DEADLINE: Duration = Duration::from_secs(180);

/// What one `cargo deny` run did.
struct Run {
    /// None when it was stopped at the deadline.
    success: Option<bool>,
    /// Its JSON lines (`--format json`), from stderr.
    output: String,
}

impl Run {
    /// Whether a check ran to its end: cargo-deny prints a summary then,
    /// and not when it could not load what the check needs.
    fn checked(&self) -> bool {
        self.output
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .any(|line| line["type"] == "summary")
    }

    /// cargo-deny's errors and log lines, one a line, each error with its
    /// crate and what its labels say.
    fn messages(&self) -> String {
        let mut messages = Vec::new();
        for line in self.output.lines() {
            let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
                messages.push(line.to_owned());
                continue;
            };
            let fields = &json["fields"];
            let text = |value: &serde_json::Value| value.as_str().unwrap_or("").to_owned();
            match json["type"].as_str() {
                Some("diagnostic") if matches!(fields["severity"].as_str(), Some("error")) => {
                    let krate = &fields["graphs"][0]["Krate"];
                    let mut message = format!(
                        "{}[{}]: {} ({} {})",
                        text(&fields["severity"]),
                        text(&fields["code"]),
                        text(&fields["message"]),
                        text(&krate["name"]),
                        text(&krate["version"]),
                    );
                    for label in fields["labels"].as_array().into_iter().flatten() {
                        if !text(&label["message"]).is_empty() {
                            message.push_str(&format!(
                                "; {}: {}",
                                text(&label["span"]),
                                text(&label["message"])
                            ));
                        }
                    }
                    messages.push(message);
                }
                Some("log") => messages.push(format!(
                    "{} {}",
                    text(&fields["level"]),
                    text(&fields["message"])
                )),
                _ => {}
            }
        }
        messages.join("\n")
    }
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(xtask::workspace_root());
    command
}

/// Fails the test, naming scripts/setup.sh, when cargo-deny is missing.
fn require_cargo_deny() {
    let found = cargo()
        .args(["deny", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "cargo-deny is not installed: run scripts/setup.sh (it runs `cargo install --locked cargo-deny`)"
    );
}

/// `cargo deny [global] check CHECKS` with JSON output, stopped after
/// `deadline`.
fn deny(global: &[&str], checks: &[&str], deadline: Duration) -> Run {
    let dir = std::env::temp_dir().join(format!(
        "runvm-supply-chain-{}-{}",
        std::process::id(),
        checks.join("-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("deny.jsonl");
    let mut child = cargo()
        .arg("deny")
        .args(global)
        .args(["--format", "json", "--color", "never", "check"])
        .args(checks)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let success = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.success());
        }
        if start.elapsed() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    Run { success, output }
}

/// Says something that must be seen even when the test passes (the test
/// harness captures `eprintln!`, not writes to the stderr handle).
fn note(message: &str) {
    let line = format!("supply_chain: {message}\n");
    std::io::stderr().write_all(line.as_bytes()).unwrap();
}

#[test]
fn licenses_bans_and_sources_follow_deny_toml() {
    require_cargo_deny();
    let run = deny(
        &[],
        &["bans", "licenses", "sources"],
        Duration::from_secs(600),
    );
    assert_eq!(
        run.success,
        Some(true),
        "cargo deny check found violations of deny.toml:\n{}",
        run.messages()
    );
}

#[test]
fn no_advisory_against_a_dependency() {
    require_cargo_deny();
    let online = deny(&[], &["advisories"], ADVISORY_DEADLINE);
    if online.success == Some(true) {
        return;
    }
    assert!(
        !online.checked(),
        "cargo deny check advisories:\n{}",
        online.messages()
    );
    // The database could not be fetched: a copy fetched before will do.
    let offline = deny(&["--offline"], &["advisories"], ADVISORY_DEADLINE);
    if offline.success == Some(true) {
        note("advisory database not updated: advisories checked against the cached copy");
        return;
    }
    assert!(
        !offline.checked(),
        "cargo deny check advisories (cached database):\n{}",
        offline.messages()
    );
    note(&format!(
        "advisory database unavailable: advisories not checked\n{}",
        online.messages()
    ));
}
