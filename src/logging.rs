//! runc's logging flags: `--log FILE` (appended, never truncated),
//! `--log-format text|json`, `--debug`.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing::Level;
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

/// The fd of the `--log` file, else stderr's: where a report from a
/// signal handler goes.
pub fn raw_fd() -> RawFd {
    LOG_FILE
        .get()
        .map_or(libc::STDERR_FILENO, AsRawFd::as_raw_fd)
}

/// Sends tracing output to `log` (or stderr) in `format`, at debug level
/// with `debug`, else warnings and errors only.
pub fn init(log: Option<&Path>, json: bool, debug: bool) -> Result<(), LogError> {
    let level = if debug { Level::DEBUG } else { Level::WARN };
    // The FUSE library logs guest-controlled text per request: a hostile
    // guest must not be able to fill the log.
    let filter = EnvFilter::new(format!("{level},fuse_backend_rs=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
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
            let builder = builder.with_ansi(false).with_writer(Mutex::new(file));
            if json {
                builder.json().try_init()
            } else {
                builder.try_init()
            }
        }
        None if json => builder.json().with_writer(std::io::stderr).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    // Only fails if a subscriber is already installed, which is harmless.
    drop(result);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_is_appended_not_truncated() {
        let dir = std::env::temp_dir().join(format!("runvm-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        std::fs::write(&path, "earlier line\n").unwrap();
        init(Some(&path), true, true).unwrap();
        tracing::debug!("hello from the test");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("earlier line\n"));
        assert!(text.contains("hello from the test"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritable_log_path_is_named() {
        let err = init(Some(Path::new("/nonexistent/dir/log")), false, false).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/dir/log"));
    }
}
