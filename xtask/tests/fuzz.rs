//! Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time from its
//! committed seed corpus through scripts/fuzz.sh, which builds them with
//! libFuzzer's instrumentation on stable Rust: 0 crashes, hangs or RSS
//! blow-ups allowed. The executions per target are printed. `RUNVM_FUZZ_SECONDS` overrides the
//! 60 s per target.

use std::io::Write;
use std::process::Command;

#[test]
fn fuzz_targets_run_without_crashes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned();
    let seconds = std::env::var("RUNVM_FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    let output = Command::new(root.join("scripts/fuzz.sh"))
        .arg(&seconds)
        .current_dir(&root)
        .output()
        .expect("running scripts/fuzz.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The per-target lines, shown whatever the outcome: written to stderr
    // directly, past the test harness's capture of `eprintln!`.
    let mut err = std::io::stderr().lock();
    for line in stdout.lines().filter(|l| l.starts_with("fuzz: ")) {
        let _ = writeln!(err, "{line}");
    }
    drop(err);
    assert!(
        output.status.success(),
        "scripts/fuzz.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for target in [
        "virtqueue",
        "vsock_packet",
        "fuse_request",
        "bundle_config",
        "agent_frame",
        "virtio_net",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("fuzz: {target}: ")))
            .unwrap_or_else(|| panic!("no result for {target}:\n{stdout}"));
        assert!(line.ends_with(", 0 crashes"), "{line}");
        let execs: u64 = line
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no execution count in {line:?}"));
        assert!(execs > 0, "{line}");
    }
}
