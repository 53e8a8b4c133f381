//! How a VM ends, and how its parts say so: the vCPUs and devices signal
//! an [`ExitEvent`]; the run loop, which owns it, decides what follows.

use std::sync::Mutex;

use vmm_sys_util::eventfd::EventFd;

/// How a VM ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmExit {
    /// The guest init wrote this status to the exit port.
    PoweredOff(u8),
    /// The guest reset without reporting a status.
    Reset(ResetCause),
    /// A vCPU could not go on running the guest.
    VcpuFailed { vcpu: u8, error: VcpuError },
}

/// Why the guest reset: what tells a kernel that gave up (a panic with
/// `panic=-1` reboots) from one that crashed before it could say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResetCause {
    /// The guest asked for it: the keyboard controller's reset line
    /// (`reboot=k`) or a KVM reset or shutdown event.
    #[error("it asked to reboot: a kernel panic or a reboot")]
    Requested,
    /// A triple fault (KVM_EXIT_SHUTDOWN): an exception the kernel could
    /// not handle. (Where is lost: on AMD, KVM puts the vCPU back at its
    /// reset vector before it exits.)
    #[error("triple fault")]
    TripleFault,
    /// A vCPU halted with nothing that could wake it.
    #[error("a vCPU halted for good")]
    Halted,
}

/// Why a vCPU stopped running the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VcpuError {
    #[error("KVM_RUN failed with errno {0}")]
    Run(i32),
    #[error("KVM could not emulate a guest instruction (internal error, emulation failure)")]
    EmulationFailure,
    #[error("KVM internal error {0}")]
    Internal(u32),
    #[error("KVM could not enter the guest (hardware reason {0:#x})")]
    FailEntry(u64),
    #[error("unexpected KVM exit {0}")]
    UnexpectedExit(&'static str),
}

/// The event by which vCPUs and devices ask the run loop to end the VM:
/// an eventfd the run loop waits on, and the first reason given (later
/// ones are echoes of the same end, e.g. the other vCPUs stopping).
pub struct ExitEvent {
    evt: EventFd,
    first: Mutex<Option<VmExit>>,
}

impl ExitEvent {
    /// A blocking eventfd with no exit recorded.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            evt: EventFd::new(libc::EFD_CLOEXEC)?,
            first: Mutex::new(None),
        })
    }

    /// Records `exit` unless an exit came first, and wakes the run loop.
    pub fn signal(&self, exit: VmExit) {
        // A poisoned lock only means a reporter panicked after recording.
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(exit);
        drop(first);
        // Only a counter at 2^64 - 2 blocks a write: never, at one per exit.
        let _ = self.evt.write(1);
    }

    /// Waits until an exit is signalled and returns the first one.
    pub fn wait(&self) -> std::io::Result<VmExit> {
        loop {
            self.evt.read()?;
            let first = self.first.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(exit) = *first {
                return Ok(exit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_exit_signalled_is_the_one_waited_for() {
        let event = std::sync::Arc::new(ExitEvent::new().unwrap());
        let waiter = {
            let event = event.clone();
            std::thread::spawn(move || event.wait().unwrap())
        };
        event.signal(VmExit::PoweredOff(3));
        event.signal(VmExit::Reset(ResetCause::Requested));
        assert_eq!(waiter.join().unwrap(), VmExit::PoweredOff(3));
    }
}
