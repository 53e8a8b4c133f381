//! runvm: a runc-compatible runtime on KVM microVMs.
