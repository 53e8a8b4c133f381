//! Legacy devices on the port I/O bus, and the bus itself.

pub mod bus;
pub mod exit_port;
pub mod i8042;
pub mod serial;
pub mod timing_port;
pub mod virtio_mmio;
