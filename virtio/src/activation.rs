//! What every device here shares between its two threads: the transport
//! activates and resets it on a vCPU thread, and the VMM's event loop
//! serves its queues. Activation hands the device an [`ActiveState`] and
//! signals the device's activation eventfd; the event loop then adds the
//! queue eventfds to its poll set ([`sync_queue_polling`]). A reset retires
//! them ([`retire_queues`]), and the next sync takes them out.

use std::num::Wrapping;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use event_manager::{EventOps, EventSet, Events};
use tracing::warn;
use virtio_queue::{Queue, QueueT};
use vmm_sys_util::eventfd::EventFd;

use crate::{GuestMemory, Interrupt};

/// What a device holds between activation and reset.
#[derive(Debug)]
pub(crate) struct ActiveState {
    pub(crate) mem: GuestMemory,
    pub(crate) interrupt: Arc<Interrupt>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) queue_evts: Vec<EventFd>,
}

/// Whether the driver published at most a queue's worth of new buffers; a
/// guest that claims more is ignored rather than walked.
pub(crate) fn avail_idx_is_sane(queue: &Queue, mem: &GuestMemory) -> bool {
    queue
        .avail_idx(mem, Ordering::Acquire)
        .is_ok_and(|idx| (idx - Wrapping(queue.next_avail())).0 <= queue.size())
}

/// Brings the poll set in line with the device state: takes out the
/// `retired` queue eventfds, and adds the active ones unless `registered`.
/// `device` names the device in the (rare) warnings.
pub(crate) fn sync_queue_polling(
    ops: &mut EventOps,
    active: Option<&ActiveState>,
    registered: &mut bool,
    retired: &mut Vec<EventFd>,
    device: &str,
) {
    for evt in retired.drain(..) {
        // Fails only if it was never added; either way it is out.
        let _ = ops.remove(Events::empty(&evt));
    }
    if let (false, Some(active)) = (*registered, active) {
        for evt in &active.queue_evts {
            if let Err(e) = ops.add(Events::new(evt, EventSet::IN)) {
                warn!("{device}: cannot poll a queue eventfd: {e}");
            }
        }
        *registered = true;
    }
}

/// On reset: the queue eventfds of `active` leave the poll set at the next
/// [`sync_queue_polling`].
pub(crate) fn retire_queues(
    active: Option<ActiveState>,
    registered: &mut bool,
    retired: &mut Vec<EventFd>,
) {
    if let Some(active) = active {
        if *registered {
            retired.extend(active.queue_evts);
        }
        *registered = false;
    }
}

/// The index of the queue whose eventfd `fd` is, with its notification
/// consumed; None if `fd` is no queue eventfd of `active`.
pub(crate) fn take_queue_kick(active: Option<&ActiveState>, fd: RawFd) -> Option<usize> {
    let evts = &active?.queue_evts;
    let index = evts.iter().position(|evt| evt.as_raw_fd() == fd)?;
    // Reading resets the counter; the kick itself is all it says.
    let _ = evts.get(index).map(EventFd::read);
    Some(index)
}
