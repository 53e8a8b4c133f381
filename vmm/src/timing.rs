//! Start-up timing marks, for the benchmark's stage breakdown. With
//! `RUNVM_TIMING=FILE` in the environment when [`init`] runs, every
//! [`mark`] appends `<CLOCK_MONOTONIC ns> <pid> <stage>` to FILE (one
//! `O_APPEND` write per line, so the CLI's and the monitor's lines
//! interleave whole). Without it a mark costs one atomic load. Marks can
//! be guest-triggered (the timing port, device status writes), so a
//! process writes at most [`MAX_MARKS`] of them.

use std::fs::{File, OpenOptions};
use std::io::Write;
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
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
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
