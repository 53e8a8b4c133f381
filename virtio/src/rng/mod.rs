//! virtio-rng, the entropy device (virtio 1.2, section 5.4): the guest
//! posts device-writable buffers on its one queue and the device fills
//! them from the host's getrandom(2). The guest kernel's hw_random core
//! reads it (`/dev/hwrng`) and mixes what it reads into its own pool, so
//! the guest's random numbers no longer depend on the guest alone.
//!
//! The guest decides how much it asks for: each buffer chain is filled up
//! to [`MAX_BYTES_PER_REQUEST`], so one kick costs the host at most a
//! queue's worth of that.

mod device;
mod event_handler;
#[cfg(test)]
mod test_utils;

pub use device::Rng;

/// Size of the request queue.
pub const QUEUE_SIZE: u16 = 256;
/// Index of the (only) queue.
pub const REQUEST_QUEUE: usize = 0;
/// Number of queues.
pub const NUM_QUEUES: usize = 1;
/// Most bytes one buffer chain gets; the rest of a longer chain is left
/// as it was (the used length says how much was filled).
pub const MAX_BYTES_PER_REQUEST: u32 = 64 * 1024;

/// Why the device could not be created.
#[derive(Debug, thiserror::Error)]
pub enum RngError {
    /// The activation eventfd could not be created.
    #[error("creating the activation eventfd")]
    EventFd(#[source] std::io::Error),
}
