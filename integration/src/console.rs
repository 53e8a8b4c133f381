//! The test host's serial console: the markers its /init prints around each
//! test script, and the log they delimit.
//!
//! ```text
//! @@RUNVM-HOST-UP
//! @@RUNVM-TEST-BEGIN boot_banner
//! ...the script's stdout and stderr...
//! @@RUNVM-TEST-END boot_banner 0
//! @@RUNVM-DONE
//! ```
//! A marker need not start its line: a script's output may lack a final
//! newline.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

const HOST_UP: &str = "@@RUNVM-HOST-UP";
const TEST_BEGIN: &str = "@@RUNVM-TEST-BEGIN";
const TEST_END: &str = "@@RUNVM-TEST-END";
const DONE: &str = "@@RUNVM-DONE";

/// How many console lines a failure report quotes.
const TAIL_LINES: usize = 40;

#[derive(Debug, PartialEq, Eq)]
enum Marker<'a> {
    HostUp,
    Begin { name: &'a str },
    End { name: &'a str, exit_code: i32 },
    Done,
}

/// Splits a console line into the text before a marker and the marker.
fn split_marker(line: &str) -> (&str, Option<Marker<'_>>) {
    let Some(start) = line.find("@@RUNVM-") else {
        return (line, None);
    };
    let (text, marker) = line.split_at(start);
    let mut words = marker.split_whitespace();
    let parsed = match (words.next(), words.next(), words.next()) {
        (Some(HOST_UP), None, _) => Some(Marker::HostUp),
        (Some(DONE), None, _) => Some(Marker::Done),
        (Some(TEST_BEGIN), Some(name), None) => Some(Marker::Begin { name }),
        (Some(TEST_END), Some(name), Some(code)) => code
            .parse()
            .ok()
            .map(|exit_code| Marker::End { name, exit_code }),
        _ => None,
    };
    match parsed {
        Some(marker) => (text, Some(marker)),
        None => (line, None),
    }
}

/// One test script's run as the console showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    /// Its stdout and stderr, interleaved (and any kernel message meanwhile).
    pub output: String,
    /// `None` if the console ended before the script did.
    pub exit_code: Option<i32>,
    /// Wall time on the host from its BEGIN marker to its END marker (or to
    /// the end of the console).
    pub elapsed: Duration,
}

/// Everything the runner learns from the console, fed line by line as
/// QEMU prints it.
#[derive(Debug)]
pub struct ConsoleLog {
    started: Instant,
    /// From QEMU's start until /init was ready to run tests.
    pub host_up_after: Option<Duration>,
    running: Option<(String, Instant)>,
    pub records: BTreeMap<String, TestRecord>,
    /// The /init got through every test.
    pub done: bool,
    tail: VecDeque<String>,
}

impl ConsoleLog {
    /// `started`: when QEMU was started.
    pub fn new(started: Instant) -> ConsoleLog {
        ConsoleLog {
            started,
            host_up_after: None,
            running: None,
            records: BTreeMap::new(),
            done: false,
            tail: VecDeque::new(),
        }
    }

    /// Takes one line (without its newline), received at `at`.
    pub fn feed(&mut self, line: &str, at: Instant) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());

        let (text, marker) = split_marker(line);
        if let Some((name, _)) = &self.running {
            if marker.is_none() || !text.is_empty() {
                let record = self
                    .records
                    .get_mut(name)
                    .expect("a running test has a record");
                record.output.push_str(text);
                if marker.is_none() {
                    record.output.push('\n');
                }
            }
        }
        match marker {
            Some(Marker::End { name, exit_code })
                if self
                    .running
                    .as_ref()
                    .is_some_and(|(running, _)| running == name) =>
            {
                self.end_running(Some(exit_code), at);
            }
            // An END for a test that is not running is noise, not a result.
            None | Some(Marker::End { .. }) => {}
            Some(Marker::HostUp) => self.host_up_after = Some(at - self.started),
            Some(Marker::Begin { name }) => {
                self.end_running(None, at);
                self.running = Some((name.to_owned(), at));
                self.records.insert(
                    name.to_owned(),
                    TestRecord {
                        output: String::new(),
                        exit_code: None,
                        elapsed: Duration::ZERO,
                    },
                );
            }
            Some(Marker::Done) => {
                self.end_running(None, at);
                self.done = true;
            }
        }
    }

    /// The console ended (QEMU exited or was killed) at `at`.
    pub fn close(&mut self, at: Instant) {
        self.end_running(None, at);
    }

    fn end_running(&mut self, exit_code: Option<i32>, at: Instant) {
        if let Some((name, began)) = self.running.take() {
            let record = self
                .records
                .get_mut(&name)
                .expect("a running test has a record");
            record.exit_code = exit_code;
            record.elapsed = at - began;
        }
    }

    /// The last console lines, for reports on what went wrong.
    pub fn tail(&self) -> String {
        self.tail.iter().map(|line| format!("{line}\n")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_marker() {
        assert_eq!(split_marker("@@RUNVM-HOST-UP"), ("", Some(Marker::HostUp)));
        assert_eq!(split_marker("@@RUNVM-DONE"), ("", Some(Marker::Done)));
        assert_eq!(
            split_marker("@@RUNVM-TEST-BEGIN boot_banner"),
            (
                "",
                Some(Marker::Begin {
                    name: "boot_banner"
                })
            )
        );
        assert_eq!(
            split_marker("@@RUNVM-TEST-END boot_banner 137"),
            (
                "",
                Some(Marker::End {
                    name: "boot_banner",
                    exit_code: 137
                })
            )
        );
    }

    #[test]
    fn a_marker_may_follow_unterminated_output() {
        assert_eq!(
            split_marker("no newline@@RUNVM-TEST-END t 1"),
            (
                "no newline",
                Some(Marker::End {
                    name: "t",
                    exit_code: 1
                })
            )
        );
    }

    #[test]
    fn malformed_markers_are_plain_text() {
        for line in [
            "@@RUNVM-TEST-END t",
            "@@RUNVM-TEST-END t x",
            "@@RUNVM-OTHER",
            "@@RUNVM-DONE now",
        ] {
            assert_eq!(split_marker(line), (line, None));
        }
    }

    fn feed_all(lines: &[&str]) -> ConsoleLog {
        let start = Instant::now();
        let mut log = ConsoleLog::new(start);
        for (i, line) in lines.iter().enumerate() {
            log.feed(line, start + Duration::from_secs(i as u64 + 1));
        }
        log
    }

    #[test]
    fn collects_each_tests_output_status_and_time() {
        let log = feed_all(&[
            "Linux version 6.1 (test host)",
            "@@RUNVM-HOST-UP",
            "@@RUNVM-TEST-BEGIN a\r",
            "hello\r",
            "@@RUNVM-TEST-END a 0",
            "@@RUNVM-TEST-BEGIN b",
            "partial@@RUNVM-TEST-END b 2",
            "@@RUNVM-DONE",
        ]);
        assert_eq!(log.host_up_after, Some(Duration::from_secs(2)));
        assert!(log.done);
        assert_eq!(
            log.records["a"],
            TestRecord {
                output: "hello\n".into(),
                exit_code: Some(0),
                elapsed: Duration::from_secs(2)
            }
        );
        assert_eq!(log.records["b"].output, "partial");
        assert_eq!(log.records["b"].exit_code, Some(2));
    }

    #[test]
    fn a_test_cut_off_by_the_end_of_the_console_has_no_exit_code() {
        let mut log = feed_all(&["@@RUNVM-TEST-BEGIN a", "Kernel panic - not syncing"]);
        log.close(Instant::now());
        assert!(!log.done);
        assert_eq!(log.records["a"].exit_code, None);
        assert_eq!(log.records["a"].output, "Kernel panic - not syncing\n");
        assert!(log.tail().ends_with("Kernel panic - not syncing\n"));
    }

    #[test]
    fn the_tail_keeps_only_the_last_lines() {
        let lines: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        let line_refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let tail = feed_all(&line_refs).tail();
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.ends_with("line 99\n"));
    }
}
