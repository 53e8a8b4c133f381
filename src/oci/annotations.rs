//! The `io.runvm.*` annotations a spec may carry.

/// Annotation overriding the guest RAM, MiB.
pub const MEMORY_ANNOTATION: &str = "io.runvm.memory_mib";
/// Annotation overriding the vCPU count.
pub const VCPUS_ANNOTATION: &str = "io.runvm.vcpus";
/// Annotation naming another guest kernel.
pub const KERNEL_ANNOTATION: &str = "io.runvm.kernel";
/// `io.runvm.network=none`: the VM gets no network device, only its
/// loopback; the monitor still lives in a network namespace of its own.
pub const NETWORK_ANNOTATION: &str = "io.runvm.network";
/// The one value [`NETWORK_ANNOTATION`] takes.
pub const NETWORK_NONE: &str = "none";
/// `io.runvm.share_cache=auto|always|never`: how long the guest caches
/// the share's entries, attributes and data (virtio-fs cache modes).
pub const SHARE_CACHE_ANNOTATION: &str = "io.runvm.share_cache";
