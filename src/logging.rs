//! runc's logging flags: `--log FILE` (appended, never truncated),
//! `--log-format text|json`, `--debug`, with lines in runc's (logrus's)
//! shape, because callers parse them: containerd's shim reads the last
//! `{"level":"error","msg":...}` line of `--log` to tell the user why a
//! runtime command failed, and fails to read anything if one line is not
//! JSON with an RFC 3339 `time`. No colour codes: the lines are for files
//! and pipes.
//!
//! Without `--log`, lines go to stderr, except for the verbs whose stdio
//! becomes a container process's (`create`, `run`, `exec`): there stderr
//! may be the container's stream (conmon hands its pipes to the runtime),
//! so they go to stderr only if it is a terminal, and the monitor logs to
//! `monitor.log` in the container's directory. A fatal error always goes
//! to stderr too, as runc's does.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::IsTerminal;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("opening log file {}", .0.display())]
    Open(std::path::PathBuf, #[source] std::io::Error),
}

/// A second handle on the `--log` file, for writers that cannot go
/// through tracing (a signal handler).
static LOG_FILE: OnceLock<File> = OnceLock::new();

/// Whether lines are JSON (`--log-format json`).
static JSON: AtomicBool = AtomicBool::new(false);

/// The fd of the `--log` file, else stderr's: where a report from a
/// signal handler goes.
pub fn raw_fd() -> RawFd {
    LOG_FILE
        .get()
        .map_or(libc::STDERR_FILENO, AsRawFd::as_raw_fd)
}

/// Whether a line written to [`raw_fd`] must be JSON.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Where log lines go without `--log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stderr {
    /// This process's own stderr.
    Own,
    /// A stream a container process may inherit: only if it is a terminal.
    MaybeContainers,
}

/// Sends tracing output to `log` (or stderr, as `stderr` allows) in
/// runc's `json` or text shape, at debug level with `debug`, else
/// warnings and errors only.
pub fn init(log: Option<&Path>, json: bool, debug: bool, stderr: Stderr) -> Result<(), LogError> {
    JSON.store(json, Ordering::Relaxed);
    let level = if debug { Level::DEBUG } else { Level::WARN };
    // The FUSE library logs guest-controlled text per request: a hostile
    // guest must not be able to fill the log.
    let filter = EnvFilter::new(format!("{level},fuse_backend_rs=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .event_format(RuncFormat { json });
    let result = match log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| LogError::Open(path.to_path_buf(), e))?;
            if let Ok(copy) = file.try_clone() {
                let _ = LOG_FILE.set(copy);
            }
            builder.with_writer(Mutex::new(file)).try_init()
        }
        None if stderr == Stderr::MaybeContainers && !std::io::stderr().is_terminal() => {
            builder.with_writer(std::io::sink).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    // Only fails if a subscriber is already installed, which is harmless.
    drop(result);
    Ok(())
}

/// Reports the error that ends this process: on stderr, as runc does,
/// and as an `error` line in `--log`, where containerd's shim looks.
pub fn fatal(message: &str) {
    eprintln!("runvm: {message}");
    if LOG_FILE.get().is_some() {
        tracing::error!("{message}");
    }
}

/// logrus's name of a level.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's message and its other fields, as text.
#[derive(Default)]
struct Fields {
    msg: String,
    others: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.msg = value,
            name => self.others.push((name, value)),
        }
    }
}

/// One line in logrus's shape: `{"level":"error","msg":"...","time":"..."}`
/// (other fields as more string members), or in text
/// `time="..." level=error msg="..."`.
struct RuncFormat {
    json: bool,
}

impl RuncFormat {
    fn line(&self, level: Level, fields: Fields, time: SystemTime) -> String {
        let time = humantime::format_rfc3339_nanos(time).to_string();
        let level = level_name(level);
        if self.json {
            let mut object = serde_json::Map::new();
            for (name, value) in fields.others {
                object.insert(name.to_string(), value.into());
            }
            object.insert("level".into(), level.into());
            object.insert("msg".into(), fields.msg.into());
            object.insert("time".into(), time.into());
            serde_json::Value::Object(object).to_string()
        } else {
            let mut line = format!(
                "time={} level={level} msg={}",
                quoted(&time),
                quoted(&fields.msg)
            );
            for (name, value) in fields.others {
                line.push_str(&format!(" {name}={}", text_value(&value)));
            }
            line
        }
    }
}

/// A string in double quotes with JSON's escapes (logrus quotes with Go's,
/// which agree on what log messages hold).
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A field value as logrus's text format writes it: bare if it is one
/// plain word, else quoted.
fn text_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        value.to_string()
    } else {
        quoted(value)
    }
}

impl<S, N> FormatEvent<S, N> for RuncFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        writeln!(writer, "{}", self.line(level, fields, SystemTime::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn fields(msg: &str, others: &[(&'static str, &str)]) -> Fields {
        Fields {
            msg: msg.into(),
            others: others.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }

    const TIME: Duration = Duration::from_millis(1_700_000_000_250);

    #[test]
    fn json_lines_are_runcs() {
        let line = RuncFormat { json: true }.line(
            Level::ERROR,
            fields("bind \"x\": no\nsuch", &[("root", "/run/runvm")]),
            UNIX_EPOCH + TIME,
        );
        assert_eq!(
            line,
            r#"{"level":"error","msg":"bind \"x\": no\nsuch","root":"/run/runvm","time":"2023-11-14T22:13:20.250000000Z"}"#
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["msg"], "bind \"x\": no\nsuch");
    }

    #[test]
    fn text_lines_are_runcs() {
        let line = RuncFormat { json: false }.line(
            Level::WARN,
            fields("hook failed", &[("root", "/run/runvm"), ("id", "a b")]),
            UNIX_EPOCH + TIME,
        );
        assert_eq!(
            line,
            r#"time="2023-11-14T22:13:20.250000000Z" level=warning msg="hook failed" root=/run/runvm id="a b""#
        );
        assert!(!line.contains('\u{1b}'), "no colour codes");
    }

    #[test]
    fn log_file_is_appended_not_truncated_and_gets_fatal_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("log");
        std::fs::write(&path, "earlier line\n").unwrap();
        init(Some(&path), true, true, Stderr::Own).unwrap();
        tracing::debug!("hello from the test");
        fatal("it broke");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("earlier line"));
        let hello: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(hello["level"], "debug");
        assert_eq!(hello["msg"], "hello from the test");
        let fatal: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(fatal["level"], "error");
        assert_eq!(fatal["msg"], "it broke");
    }

    #[test]
    fn unwritable_log_path_is_named() {
        let err = init(
            Some(Path::new("/nonexistent/dir/log")),
            false,
            false,
            Stderr::Own,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/log"));
    }
}
