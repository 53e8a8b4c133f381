//! The virtio-rng device: activation, and filling each buffer chain the
//! guest makes available.

use tracing::warn;
use virtio_queue::{DescriptorChain, QueueT};
use vm_memory::Bytes;

use super::{RngError, MAX_BYTES_PER_REQUEST, NUM_QUEUES, QUEUE_SIZE, REQUEST_QUEUE};
use crate::activation::{avail_idx_is_sane, Activation, ActiveState};
use crate::features::VIRTIO_F_VERSION_1;
use crate::{device_type, GuestMemory, VirtioDevice, VirtioError};

/// A virtio-rng device, wired like [`crate::fs::Fs`]: one `Arc<Mutex<Rng>>`
/// handed to the VMM's `EventManager` (the queue is served there) and to a
/// [`crate::MmioTransport`].
#[derive(Debug)]
pub struct Rng {
    queue_max_sizes: [u16; NUM_QUEUES],
    pub(crate) activation: Activation,
    /// Where random bytes are drawn before they are copied to the guest.
    buffer: Vec<u8>,
    /// A malformed request was logged (once per device).
    warned: bool,
}

/// Fills `bytes` from the host's getrandom(2).
fn fill_random(bytes: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while let Some(rest) = bytes.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`,
        // which is alive and writable.
        let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(got) {
            Ok(got) => filled += got,
            Err(_) => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
    Ok(())
}

/// Fills the buffers of `chain` with random bytes, up to
/// [`MAX_BYTES_PER_REQUEST`]. Returns how many bytes were written, and
/// whether the chain was malformed (a buffer the device may not write, or
/// one outside guest memory), which ends the filling.
fn fill_chain(
    buffer: &mut [u8],
    mem: &GuestMemory,
    chain: DescriptorChain<&GuestMemory>,
) -> (u32, bool) {
    let mut written: u32 = 0;
    for desc in chain {
        if !desc.is_write_only() {
            return (written, true);
        }
        let room = MAX_BYTES_PER_REQUEST.saturating_sub(written);
        if room == 0 {
            break;
        }
        let len = desc.len().min(room);
        let Some(bytes) = usize::try_from(len)
            .ok()
            .and_then(|len| buffer.get_mut(..len))
        else {
            return (written, true);
        };
        if bytes.is_empty() {
            continue;
        }
        if fill_random(bytes).is_err() || mem.write_slice(bytes, desc.addr()).is_err() {
            return (written, true);
        }
        // `len` is at most what is left of MAX_BYTES_PER_REQUEST.
        written = written.saturating_add(len);
    }
    (written, false)
}

impl Rng {
    /// A new device, not yet activated.
    pub fn new() -> Result<Self, RngError> {
        Ok(Self {
            queue_max_sizes: [QUEUE_SIZE; NUM_QUEUES],
            activation: Activation::new().map_err(RngError::EventFd)?,
            buffer: Vec::new(),
            warned: false,
        })
    }

    /// Fills every buffer chain the guest made available.
    pub(crate) fn process_queue(&mut self) {
        let Some(active) = self.activation.active.as_mut() else {
            return;
        };
        let mem = &active.mem;
        let Some(queue) = active.queues.get_mut(REQUEST_QUEUE) else {
            return;
        };
        if self.buffer.is_empty() {
            self.buffer = vec![0; usize::try_from(MAX_BYTES_PER_REQUEST).unwrap_or(0)];
        }
        let mut malformed = false;
        let mut used_any = false;
        // At most a queue's worth per kick: a guest that refills as fast
        // as it is served must not hold the event loop its other devices
        // share. The rest is served on the kick this sends.
        let mut budget = queue.size();
        loop {
            if budget == 0 {
                if let Some(evt) = active.queue_evts.get(REQUEST_QUEUE) {
                    let _ = evt.write(1);
                }
                break;
            }
            budget -= 1;
            if !avail_idx_is_sane(queue, mem) {
                malformed = true;
                break;
            }
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            if head >= queue.size() {
                malformed = true;
                continue;
            }
            let (written, bad_chain) = fill_chain(&mut self.buffer, mem, chain);
            malformed |= bad_chain;
            if queue.add_used(mem, head, written).is_err() {
                malformed = true;
                break;
            }
            used_any = true;
        }
        if used_any && queue.needs_notification(mem).unwrap_or(true) {
            malformed |= active.interrupt.signal_used_queue().is_err();
        }
        if malformed && !self.warned {
            self.warned = true;
            warn!(
                "virtio-rng: the guest's queue held a request that cannot be served (logged once)"
            );
        }
    }
}

impl VirtioDevice for Rng {
    fn device_type(&self) -> u32 {
        device_type::RNG
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_max_sizes
    }

    fn avail_features(&self) -> u64 {
        1 << VIRTIO_F_VERSION_1
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // No config space.
        crate::read_config_bytes(&[], offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

    fn activate(&mut self, active: ActiveState) -> Result<(), VirtioError> {
        self.activation.activate(active, NUM_QUEUES)
    }

    fn reset(&mut self) {
        self.activation.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::test_utils::{TestGuest, BUF_ADDR, MEM_SIZE};

    #[test]
    fn an_entropy_device_with_no_config_space() {
        let rng = Rng::new().unwrap();
        assert_eq!(rng.device_type(), 4);
        assert_eq!(rng.queue_max_sizes(), &[QUEUE_SIZE]);
        assert_eq!(rng.avail_features(), 1 << 32);
        let mut config = [0xffu8; 8];
        rng.read_config(0, &mut config);
        assert_eq!(config, [0; 8]);
    }

    #[test]
    fn each_writable_buffer_gets_random_bytes() {
        let mut guest = TestGuest::new();
        guest.add_chain(&[(BUF_ADDR, 64, true), (BUF_ADDR + 0x1000, 32, true)]);
        guest.add_chain(&[(BUF_ADDR + 0x2000, 64, true)]);
        guest.process();
        assert_eq!(guest.used(), vec![(0, 96), (2, 64)]);
        let first = guest.read(BUF_ADDR, 64);
        let second = guest.read(BUF_ADDR + 0x2000, 64);
        assert_ne!(first, vec![0; 64]);
        assert_ne!(guest.read(BUF_ADDR + 0x1000, 32), vec![0; 32]);
        assert_ne!(first, second, "two requests got the same bytes");
        assert!(guest.interrupted());
    }

    #[test]
    fn a_request_is_capped() {
        let mut guest = TestGuest::new();
        let len = MAX_BYTES_PER_REQUEST + 4096;
        guest.add_chain(&[(BUF_ADDR, len, true)]);
        guest.process();
        assert_eq!(guest.used(), vec![(0, MAX_BYTES_PER_REQUEST)]);
        assert_eq!(
            guest.read(BUF_ADDR + u64::from(MAX_BYTES_PER_REQUEST), 4096),
            vec![0; 4096]
        );
    }

    #[test]
    fn malformed_chains_are_returned_without_harm() {
        let mut guest = TestGuest::new();
        // A buffer the device may only read.
        guest.add_chain(&[(BUF_ADDR, 64, false)]);
        // A buffer past the end of guest memory, after a good one.
        guest.add_chain(&[(BUF_ADDR, 16, true), (MEM_SIZE - 8, 64, true)]);
        // An address whose end overflows u64.
        guest.add_chain(&[(u64::MAX - 4, 64, true)]);
        guest.process();
        assert_eq!(guest.used(), vec![(0, 0), (1, 16), (3, 0)]);
        // The device still serves the next good request.
        guest.add_chain(&[(BUF_ADDR + 0x1000, 8, true)]);
        guest.process();
        assert_eq!(guest.used().last(), Some(&(4, 8)));
    }

    #[test]
    fn empty_buffers_are_skipped_not_the_end() {
        let mut guest = TestGuest::new();
        guest.add_chain(&[(BUF_ADDR, 0, true), (BUF_ADDR + 0x1000, 16, true)]);
        guest.process();
        assert_eq!(guest.used(), vec![(0, 16)]);
    }

    #[test]
    fn a_kick_serves_at_most_a_queue_of_chains() {
        let mut guest = TestGuest::new();
        for i in 0..16u64 {
            guest.add_chain(&[(BUF_ADDR + i * 0x100, 8, true)]);
        }
        guest.process();
        assert_eq!(guest.used().len(), 16);
        assert!(
            guest.kicked_itself(),
            "no kick left for the chains after the budget"
        );
    }

    #[test]
    fn an_avail_index_far_ahead_is_ignored() {
        let mut guest = TestGuest::new();
        guest.add_chain(&[(BUF_ADDR, 8, true)]);
        guest.set_avail_idx(1000);
        guest.process();
        assert!(guest.used().is_empty());
    }

    #[test]
    fn reset_drops_the_queue() {
        let mut guest = TestGuest::new();
        guest.rng.lock().unwrap().reset();
        guest.add_chain(&[(BUF_ADDR, 8, true)]);
        guest.process();
        assert!(guest.used().is_empty());
        assert!(guest.rng.lock().unwrap().activation.active.is_none());
    }
}
