//! What every device here shares between its two threads: the transport
//! activates and resets it on a vCPU thread, and the VMM's event loop
//! serves its queues. [`Activation`] carries the one to the other: it
//! keeps what activation hands over ([`ActiveState`]) and signals its
//! eventfd, and the event loop then brings its poll set in line (adds the
//! queue eventfds after an activation, takes them out after a reset).

use std::num::Wrapping;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events};
use tracing::warn;
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::{EventFd, EFD_CLOEXEC, EFD_NONBLOCK};

use crate::{GuestMemory, Interrupt, VirtioError};

/// What the transport hands a device on activation, and the device holds
/// until reset.
#[derive(Debug)]
pub struct ActiveState {
    /// Guest memory, where the queues and their buffers are.
    pub mem: GuestMemory,
    /// The device's interrupt line.
    pub interrupt: Arc<Interrupt>,
    /// One ready queue per entry of the device's `queue_max_sizes`.
    pub queues: Vec<Queue>,
    /// `queue_evts[i]` is signalled when the driver notifies queue `i`.
    pub queue_evts: Vec<EventFd>,
    /// The feature bits the driver accepted (a subset of the device's
    /// `avail_features`).
    pub acked_features: u64,
}

/// Whether the driver published at most a queue's worth of new buffers; a
/// guest that claims more is ignored rather than walked.
pub(crate) fn avail_idx_is_sane(queue: &Queue, mem: &GuestMemory) -> bool {
    queue
        .avail_idx(mem, Ordering::Acquire)
        .is_ok_and(|idx| (idx - Wrapping(queue.next_avail())).0 <= queue.size())
}

/// What every device checks before activating: `expected` queues and
/// notification eventfds, every queue ready.
fn check(state: &ActiveState, expected: usize) -> Result<(), VirtioError> {
    let (queues, queue_evts) = (&state.queues, &state.queue_evts);
    if queues.len() != expected || queue_evts.len() != expected {
        return Err(VirtioError::QueueCount {
            expected,
            got: queues.len().min(queue_evts.len()),
        });
    }
    if let Some(index) = queues.iter().position(|q| !q.ready()) {
        return Err(VirtioError::InvalidQueue(index));
    }
    Ok(())
}

/// A device's activation as both of its threads see it.
#[derive(Debug)]
pub(crate) struct Activation {
    /// Signalled (from a vCPU thread) on activation and reset, so that the
    /// event loop updates what it polls.
    pub(crate) evt: EventFd,
    /// Between activation and reset: the queues.
    pub(crate) active: Option<ActiveState>,
    /// Whether the active queue eventfds are in the poll set.
    pub(crate) registered: bool,
    /// Queue eventfds of a reset device, to take out of the poll set.
    pub(crate) retired: Vec<EventFd>,
}

/// What an event on one of the device's fds was.
pub(crate) enum Kick {
    /// The activation eventfd (consumed).
    Activation,
    /// A notification on queue `n` (consumed).
    Queue(usize),
    /// None of the activation's fds.
    Other,
}

impl Activation {
    pub(crate) fn new() -> std::io::Result<Self> {
        Ok(Self {
            evt: EventFd::new(EFD_NONBLOCK | EFD_CLOEXEC)?,
            active: None,
            registered: false,
            retired: Vec::new(),
        })
    }

    /// On a vCPU thread: the driver is ready; `expected` queues with their
    /// eventfds, every queue ready.
    pub(crate) fn activate(
        &mut self,
        state: ActiveState,
        expected: usize,
    ) -> Result<(), VirtioError> {
        check(&state, expected)?;
        // The event loop registers the queues when it sees this; it cannot
        // run before the transport releases the device lock.
        self.evt
            .write(1)
            .map_err(|e| VirtioError::Activation(e.to_string()))?;
        self.active = Some(state);
        Ok(())
    }

    /// On a vCPU thread: the driver reset the device. Its queue eventfds
    /// leave the poll set at the event loop's next [`Activation::sync`].
    pub(crate) fn reset(&mut self) {
        if let Some(active) = self.active.take() {
            if self.registered {
                self.retired.extend(active.queue_evts);
            }
            self.registered = false;
        }
        // An eventfd write cannot fail short of counter overflow.
        let _ = self.evt.write(1);
    }

    /// On the event loop, when the device joins it: polls the activation
    /// eventfd (and the queues, if the device is already active).
    pub(crate) fn init(&mut self, ops: &mut EventOps, device: &str) {
        if let Err(e) = ops.add(Events::new(&self.evt, EventSet::IN)) {
            warn!("{device}: cannot poll the activation eventfd: {e}");
        }
        self.sync(ops, device);
    }

    /// On the event loop: brings the poll set in line with the device
    /// state. `device` names the device in the (rare) warnings.
    pub(crate) fn sync(&mut self, ops: &mut EventOps, device: &str) {
        for evt in self.retired.drain(..) {
            // Fails only if it was never added; either way it is out.
            let _ = ops.remove(Events::empty(&evt));
        }
        if let (false, Some(active)) = (self.registered, self.active.as_ref()) {
            for evt in &active.queue_evts {
                if let Err(e) = ops.add(Events::new(evt, EventSet::IN)) {
                    warn!("{device}: cannot poll a queue eventfd: {e}");
                }
            }
            self.registered = true;
        }
    }

    /// On the event loop: what an event on `fd` was, its counter read.
    pub(crate) fn kick(&self, fd: RawFd) -> Kick {
        if fd == self.evt.as_raw_fd() {
            // Reading resets the counter; nothing else to do with it.
            let _ = self.evt.read();
            return Kick::Activation;
        }
        let Some(evts) = self.active.as_ref().map(|active| &active.queue_evts) else {
            return Kick::Other;
        };
        match evts.iter().position(|evt| evt.as_raw_fd() == fd) {
            Some(index) => {
                // The kick itself is all it says.
                let _ = evts.get(index).map(EventFd::read);
                Kick::Queue(index)
            }
            None => Kick::Other,
        }
    }
}
