//! Capability sets as bit masks, and the raw calls that apply them in a
//! freshly forked child (nothing here allocates).

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};
use proto::features::CAPABILITIES;

use super::sys::check;

/// The five capability sets of a process, one bit per capability number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
    /// The highest capability number the kernel knows.
    pub last_cap: u32,
}

/// Capabilities the kernel does not know are left out, as runc does.
pub fn from_spec(spec: &LinuxCapabilities, last_cap: u32) -> CapSets {
    let known = u64::MAX >> (63 - last_cap.min(63));
    let mask = |set: &Option<Capabilities>| {
        set.iter()
            .flatten()
            .filter_map(|cap| number(*cap))
            .fold(0u64, |bits, number| bits | 1 << number)
            & known
    };
    CapSets {
        bounding: mask(spec.bounding()),
        effective: mask(spec.effective()),
        permitted: mask(spec.permitted()),
        inheritable: mask(spec.inheritable()),
        ambient: mask(spec.ambient()),
        last_cap,
    }
}

/// The highest capability number of the running kernel.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        // CAP_CHECKPOINT_RESTORE, the last one of Linux 6.1.
        .unwrap_or(40)
        // The sets here are 64 bits wide.
        .min(63)
}

/// Drops every capability not in `bounding` from the bounding set.
/// Capabilities already gone are skipped, so a set that is already right
/// needs no privilege.
pub fn drop_bounding(sets: &CapSets) -> Result<(), i32> {
    for cap in 0..=sets.last_cap {
        if sets.bounding & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments reads and writes no memory.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) };
        if present == 1 {
            // SAFETY: as above.
            check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) })?;
        }
    }
    Ok(())
}

/// Keeps the permitted set across the uid change that follows.
pub fn keep_caps(keep: bool) -> Result<(), i32> {
    // SAFETY: prctl with integer arguments reads and writes no memory.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(keep), 0, 0, 0) })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the effective, permitted and inheritable sets, then the ambient set.
pub fn set(sets: &CapSets) -> Result<(), i32> {
    let header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |bits: u64, high: bool| (if high { bits >> 32 } else { bits }) as u32;
    let data = [false, true].map(|high| CapData {
        effective: half(sets.effective, high),
        permitted: half(sets.permitted, high),
        inheritable: half(sets.inheritable, high),
    });
    // SAFETY: capset reads one header and two data structs (version 3), all
    // of which live on this stack frame for the duration of the call.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } as i32)?;
    // SAFETY: prctl with integer arguments reads and writes no memory.
    check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    })?;
    for cap in 0..=sets.last_cap {
        if sets.ambient & (1 << cap) != 0 {
            // SAFETY: as above.
            check(unsafe {
                libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, cap, 0, 0)
            })?;
        }
    }
    Ok(())
}

/// The kernel's number for `cap` (linux/capability.h): its place in the
/// agent's list, which is in the kernel's order.
fn number(cap: Capability) -> Option<u32> {
    let place = CAPABILITIES.iter().position(|known| *known == cap)?;
    u32::try_from(place).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_have_the_kernels_numbers() {
        assert_eq!(number(Capability::Chown), Some(0));
        assert_eq!(number(Capability::SysAdmin), Some(21));
        assert_eq!(number(Capability::CheckpointRestore), Some(40));
        let spec: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_NET_RAW", "CAP_CHECKPOINT_RESTORE"]
        }))
        .unwrap();
        // The kernel knows up to CAP_BPF (39): the last one is left out.
        assert_eq!(from_spec(&spec, 39).bounding, 1 << 5 | 1 << 13);
    }
}
