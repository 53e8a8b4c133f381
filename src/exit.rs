//! Ending this process the way a container process ended.

use nix::sys::signal::{SigSet, Signal};
use proto::agent::ExitStatus;

/// Ends this process the way the container process ended: exit N, or
/// death by the same signal (default disposition restored and unblocked
/// first). Falls back to exit 128+S, the shell's convention, if the
/// signal does not kill (SIGCHLD-like defaults).
pub fn mirror_exit(status: ExitStatus) -> ! {
    match status {
        ExitStatus::Code(code) => std::process::exit(code),
        ExitStatus::Signal(number) => {
            if let Ok(signal) = Signal::try_from(number) {
                // SAFETY: restoring the default disposition has no
                // preconditions; no handler state is touched.
                let _ = unsafe {
                    nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigDfl)
                };
                let mut set = SigSet::empty();
                set.add(signal);
                let _ = set.thread_unblock();
                let _ = nix::sys::signal::raise(signal);
            }
            std::process::exit(128 + number)
        }
    }
}
