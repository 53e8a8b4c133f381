//! A mock guest for the virtio-rng tests: guest memory, one queue the
//! driver fills with buffer chains, and an activated device.

use std::sync::{Arc, Mutex};

use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::Rng;
use crate::{ActiveState, GuestMemory, Interrupt, VirtioDevice};

/// Guest RAM size.
pub(crate) const MEM_SIZE: u64 = 0x40_0000;
/// Where the tests' buffers start (the queue's rings are below).
pub(crate) const BUF_ADDR: u64 = 0x10_0000;
/// Size the mock driver gives the queue.
const QUEUE_LEN: u16 = 16;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

/// A driver with an activated device.
pub(crate) struct TestGuest {
    mem: &'static GuestMemory,
    queue: MockSplitQueue<'static, GuestMemory>,
    interrupt: Arc<Interrupt>,
    /// The queue's notification eventfd, as KVM's ioeventfd signals it.
    kick: EventFd,
    next_desc: u16,
    pub(crate) rng: Arc<Mutex<Rng>>,
}

impl TestGuest {
    pub(crate) fn new() -> Self {
        let size = usize::try_from(MEM_SIZE).unwrap();
        // The mock queue borrows the memory for the whole test.
        let mem: &'static GuestMemory = Box::leak(Box::new(
            GuestMemory::from_ranges(&[(GuestAddress(0), size)]).unwrap(),
        ));
        let queue = MockSplitQueue::new(mem, QUEUE_LEN);
        let interrupt = Arc::new(Interrupt::new().unwrap());
        let kick = EventFd::new(EFD_NONBLOCK).unwrap();
        let mut rng = Rng::new().unwrap();
        rng.activate(ActiveState {
            mem: mem.clone(),
            interrupt: interrupt.clone(),
            queues: vec![queue.create_queue().unwrap()],
            queue_evts: vec![kick.try_clone().unwrap()],
            acked_features: 1 << crate::features::VIRTIO_F_VERSION_1,
        })
        .unwrap();
        Self {
            mem,
            queue,
            interrupt,
            kick,
            next_desc: 0,
            rng: Arc::new(Mutex::new(rng)),
        }
    }

    /// Serves the queue, as a kick on the event loop does.
    pub(crate) fn process(&self) {
        self.rng.lock().unwrap().process_queue();
    }

    /// Notifies the queue through its eventfd.
    pub(crate) fn kick(&self) {
        self.kick.write(1).unwrap();
    }

    /// Makes a chain of `(addr, len, device-writable)` buffers available.
    pub(crate) fn add_chain(&mut self, buffers: &[(u64, u32, bool)]) {
        let count = u16::try_from(buffers.len()).unwrap();
        let descs: Vec<RawDescriptor> = buffers
            .iter()
            .zip(self.next_desc..)
            .map(|(&(addr, len, writable), index)| {
                let mut flags = if writable { DESC_F_WRITE } else { 0 };
                if index + 1 < self.next_desc + count {
                    flags |= DESC_F_NEXT;
                }
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, index + 1))
            })
            .collect();
        self.queue.add_desc_chains(&descs, self.next_desc).unwrap();
        self.next_desc += count;
    }

    /// Sets the avail ring's index, as a hostile driver may.
    pub(crate) fn set_avail_idx(&self, idx: u16) {
        self.queue.avail().idx().store(idx);
    }

    /// The (head, length) of every used buffer so far.
    pub(crate) fn used(&self) -> Vec<(u32, u32)> {
        let used = self.queue.used();
        (0..used.idx().load())
            .map(|i| used.ring().ref_at(usize::from(i)).unwrap().load())
            .map(|elem| (elem.id(), elem.len()))
            .collect()
    }

    /// `len` bytes of guest memory at `addr`.
    pub(crate) fn read(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut bytes = vec![0; len];
        self.mem.read_slice(&mut bytes, GuestAddress(addr)).unwrap();
        bytes
    }

    /// Whether the device kicked its own queue (to come back to it), the
    /// kick consumed.
    pub(crate) fn kicked_itself(&self) -> bool {
        self.kick.read().is_ok()
    }

    /// Whether the device raised its interrupt.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.status() != 0
    }
}
