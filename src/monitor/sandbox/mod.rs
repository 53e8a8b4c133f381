//! What the monitor sets up around the VM on the host, before the guest
//! boots: the network namespace it lives in.

pub mod netns;
