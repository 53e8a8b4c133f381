//! The virtio-mmio transport and devices (vsock, fs, net, rng) of the runvm VMM.
