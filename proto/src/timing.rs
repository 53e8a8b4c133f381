//! Start-up timing marks from the guest: the guest writes one byte, the
//! stage it reached, to [`TIMING_PORT`] (one `out`, as Firecracker's boot
//! timer); the VMM timestamps it when the host records timing marks.

/// The guest's timing port.
pub const TIMING_PORT: u16 = 0x502;

/// A stage of the guest's start, as the byte written to [`TIMING_PORT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum GuestStage {
    /// The init's first instruction of its own (the kernel is up).
    InitStart = 1,
    /// The agent listens on its vsock port.
    AgentListening = 2,
    /// The container's mounts, cgroup and namespaces are set up.
    ContainerSetUp = 3,
    /// The container's process is forked, waiting for `start`.
    ProcessForked = 4,
    /// The process was released to exec its program.
    ProcessExec = 5,
}

impl GuestStage {
    /// The stage a byte names, if any.
    pub fn from_byte(byte: u8) -> Option<Self> {
        [
            Self::InitStart,
            Self::AgentListening,
            Self::ContainerSetUp,
            Self::ProcessForked,
            Self::ProcessExec,
        ]
        .into_iter()
        .find(|stage| *stage as u8 == byte)
    }

    /// How the host's timing record names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::InitStart => "guest init start",
            Self::AgentListening => "guest agent listening",
            Self::ContainerSetUp => "guest container set up",
            Self::ProcessForked => "guest process forked",
            Self::ProcessExec => "guest process exec",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_round_trips_through_its_byte() {
        for byte in 0..=u8::MAX {
            if let Some(stage) = GuestStage::from_byte(byte) {
                assert_eq!(stage as u8, byte);
            }
        }
        assert_eq!(GuestStage::from_byte(5), Some(GuestStage::ProcessExec));
        assert_eq!(GuestStage::from_byte(0), None);
        assert_eq!(GuestStage::from_byte(6), None);
    }
}
