//! Pausing the guest: every vCPU thread parks outside `KVM_RUN` until it
//! is resumed. A vCPU inside the guest is kicked out with a signal whose
//! handler does nothing (`KVM_RUN` returns `EINTR`); a kick that lands
//! just before the thread re-enters the guest is lost, so the pauser kicks
//! again until every vCPU has parked.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a pause re-kicks vCPUs that have not parked yet.
const KICK_INTERVAL: Duration = Duration::from_millis(10);

/// Makes one vCPU thread leave `KVM_RUN`.
pub type Kick = Box<dyn Fn() + Send + Sync>;

/// Why the VM could not be paused.
#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error("{parked} of {vcpus} vCPUs stopped within {timeout:?}")]
    Timeout {
        parked: usize,
        vcpus: usize,
        timeout: Duration,
    },
}

#[derive(Default)]
struct GateState {
    paused: bool,
    parked: usize,
}

/// Shared by the vCPU threads and whoever pauses the VM.
#[derive(Default)]
pub struct PauseGate {
    state: Mutex<GateState>,
    changed: Condvar,
    kicks: Mutex<Vec<Kick>>,
}

impl PauseGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        // The state is two plain fields: a panicked holder left it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a running vCPU thread by the way to kick it.
    pub fn add_vcpu(&self, kick: Kick) {
        self.kicks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(kick);
    }

    /// Called by a vCPU thread before each entry into the guest: blocks
    /// while the VM is paused.
    pub fn park_if_paused(&self) {
        let mut state = self.lock();
        if !state.paused {
            return;
        }
        state.parked += 1;
        self.changed.notify_all();
        while state.paused {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.parked -= 1;
        self.changed.notify_all();
    }

    /// Stops every registered vCPU; returns once all are parked.
    pub fn pause(&self, timeout: Duration) -> Result<(), PauseError> {
        let deadline = Instant::now() + timeout;
        let kicks = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
        let vcpus = kicks.len();
        let mut state = self.lock();
        state.paused = true;
        while state.parked < vcpus {
            let now = Instant::now();
            if now >= deadline {
                let parked = state.parked;
                // Half-paused helps nobody: let the parked ones go again.
                state.paused = false;
                self.changed.notify_all();
                return Err(PauseError::Timeout {
                    parked,
                    vcpus,
                    timeout,
                });
            }
            kicks.iter().for_each(|kick| kick());
            let wait = KICK_INTERVAL.min(deadline - now);
            state = self
                .changed
                .wait_timeout(state, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Lets every vCPU run again.
    pub fn resume(&self) {
        self.lock().paused = false;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A fake vCPU: loops "running the guest" until told to stop,
    /// checking the gate like the real one, counting its iterations.
    fn fake_vcpu(gate: &Arc<PauseGate>, stop: &Arc<AtomicBool>) -> Arc<AtomicUsize> {
        let steps = Arc::new(AtomicUsize::new(0));
        let (gate, stop, count) = (gate.clone(), stop.clone(), steps.clone());
        gate.add_vcpu(Box::new(|| {}));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                gate.park_if_paused();
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        steps
    }

    #[test]
    fn paused_vcpus_do_not_run_until_resumed() {
        let gate = Arc::new(PauseGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let steps = [fake_vcpu(&gate, &stop), fake_vcpu(&gate, &stop)];
        gate.pause(Duration::from_secs(5)).unwrap();
        let frozen: Vec<usize> = steps.iter().map(|s| s.load(Ordering::SeqCst)).collect();
        std::thread::sleep(Duration::from_millis(50));
        let later: Vec<usize> = steps.iter().map(|s| s.load(Ordering::SeqCst)).collect();
        assert_eq!(frozen, later, "a paused vCPU went on running");
        gate.resume();
        std::thread::sleep(Duration::from_millis(50));
        for (step, before) in steps.iter().zip(frozen) {
            assert!(
                step.load(Ordering::SeqCst) > before,
                "a vCPU did not resume"
            );
        }
        stop.store(true, Ordering::SeqCst);
    }

    #[test]
    fn a_vcpu_that_never_parks_fails_the_pause_and_frees_the_others() {
        let gate = Arc::new(PauseGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let running = fake_vcpu(&gate, &stop);
        // A vCPU that is stuck (or gone) and never reaches the gate.
        let kicked = Arc::new(AtomicUsize::new(0));
        let counter = kicked.clone();
        gate.add_vcpu(Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));
        let err = gate.pause(Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.to_string(), "1 of 2 vCPUs stopped within 100ms");
        assert!(
            kicked.load(Ordering::SeqCst) > 1,
            "the stuck vCPU was kicked only once"
        );
        let before = running.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            running.load(Ordering::SeqCst) > before,
            "the failed pause left a vCPU parked"
        );
        stop.store(true, Ordering::SeqCst);
    }
}
