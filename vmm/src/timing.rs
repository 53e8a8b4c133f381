//! Start-up timing marks, for the benchmark's stage breakdown. With
//! `RUNVM_TIMING=FILE` in the environment when [`init`] runs, every
//! [`mark`] appends `<CLOCK_MONOTONIC ns> <pid> <stage>` to FILE (one
//! `O_APPEND` write per line, so the CLI's and the monitor's lines
//! interleave whole). Without it a mark costs one atomic load. Marks can
//! be guest-triggered (the timing port, device status writes), so a
//! process writes at most [`MAX_MARKS`] of them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use nix::time::{clock_gettime, ClockId};

/// The environment variable naming the file marks are appended to.
pub const ENV: &str = "RUNVM_TIMING";
/// Most marks one process writes.
pub const MAX_MARKS: usize = 256;

static RECORD: OnceLock<File> = OnceLock::new();
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Opens the record named by [`ENV`], if any. Call it early, before the
/// process is jailed or its threads are filtered; later marks only write.
pub fn init() {
    if let Some(path) = std::env::var_os(ENV) {
        record_to(Path::new(&path));
    }
}

/// Records marks to `path` from now on.
fn record_to(path: &Path) {
    // Timing is a benchmark's aid: a record that cannot be opened only
    // leaves the marks out.
    if let Ok(file) = OpenOptions::new().append(true).create(true).open(path) {
        let _ = RECORD.set(file);
    }
}

/// Whether marks are recorded.
pub fn enabled() -> bool {
    RECORD.get().is_some()
}

/// Records that this process reached `stage` now.
pub fn mark(stage: &str) {
    let Some(mut file) = RECORD.get() else {
        return;
    };
    if WRITTEN.fetch_add(1, Ordering::Relaxed) >= MAX_MARKS {
        return;
    }
    let Ok(now) = clock_gettime(ClockId::CLOCK_MONOTONIC) else {
        return;
    };
    let nanos = i128::from(now.tv_sec()) * 1_000_000_000 + i128::from(now.tv_nsec());
    let line = format!("{nanos} {} {stage}\n", std::process::id());
    let _ = file.write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::bus::BusDevice;
    use crate::devices::timing_port::TimingPort;

    #[test]
    fn marks_are_lines_in_order_and_bounded() {
        assert!(!enabled());
        mark("before the record");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marks");
        record_to(&path);
        assert!(enabled());
        mark("first");
        TimingPort.write(0, &[proto::timing::GuestStage::InitStart as u8]);
        TimingPort.write(0, &[0xff]);
        for _ in 0..MAX_MARKS {
            mark("again");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let stages: Vec<String> = text
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.splitn(3, ' ').collect();
                assert!(fields[0].parse::<u64>().is_ok(), "{line}");
                assert_eq!(fields[1], std::process::id().to_string());
                fields[2].to_owned()
            })
            .collect();
        assert_eq!(stages[..2], ["first", "guest init start"]);
        assert_eq!(stages.len(), MAX_MARKS, "bounded");
    }
}
