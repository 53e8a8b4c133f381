//! Signal names and numbers as `runc kill` takes them.

use nix::sys::signal::Signal;

/// Why a signal argument was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown signal {0:?}")]
pub struct UnknownSignal(pub String);

/// Parses `9`, `KILL`, `SIGKILL` or `sigkill`.
pub fn parse_signal(text: &str) -> Result<Signal, UnknownSignal> {
    let unknown = || UnknownSignal(text.to_string());
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| unknown());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_forms() {
        for text in ["9", "KILL", "SIGKILL", "kill", "sigkill"] {
            assert_eq!(parse_signal(text), Ok(Signal::SIGKILL), "{text}");
        }
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("usr1"), Ok(Signal::SIGUSR1));
    }

    #[test]
    fn refuses_unknown_signals() {
        for text in ["", "NOPE", "SIGNOPE", "0", "999", "-1"] {
            assert_eq!(
                parse_signal(text),
                Err(UnknownSignal(text.into())),
                "{text}"
            );
        }
    }
}
