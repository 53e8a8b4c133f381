//! How big a container's VM is: from the spec's resources, overridden by
//! `io.runvm.` annotations.

use oci_spec::runtime::{LinuxResources, Spec};
use vmm::arch::mptable::MAX_VCPUS;
use vmm::memory::{MAX_MEMORY_MIB, MIN_MEMORY_MIB};

use crate::oci::annotations::{MEMORY_ANNOTATION, VCPUS_ANNOTATION};

/// vCPUs when the spec asks for no CPU limit.
pub const DEFAULT_VCPUS: u8 = 1;
/// Guest RAM when the spec sets no memory limit, MiB.
pub const DEFAULT_MEMORY_MIB: u64 = 256;
/// Added to a memory limit for the guest kernel and agent, MiB.
pub const MEMORY_OVERHEAD_MIB: u64 = 64;
/// The CFS period a CPU quota is taken against when the spec gives none
/// (the kernel's default, which runc uses too), microseconds.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;

/// Why the size could not be worked out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SizingError {
    #[error("annotations.{key}: {value:?} is not a number from {min} to {max}")]
    Annotation {
        key: &'static str,
        value: String,
        min: u64,
        max: u64,
    },
    #[error("linux.resources.memory.limit: {0} bytes needs more than the {MAX_MEMORY_MIB} MiB a VM can have")]
    MemoryLimit(i64),
    #[error(
        "memory.limit {limit} exceeds the VM's {vm_mib} MiB: memory hot-plug is not supported"
    )]
    MemoryBeyondVm { limit: i64, vm_mib: u64 },
    #[error(
        "cpu quota/period asks for {cpus} CPUs, the VM has {vcpus}: CPU hot-plug is not supported"
    )]
    CpusBeyondVm { cpus: u64, vcpus: u8 },
    #[error("cpu.{0}: host CPU and memory-node pinning cannot be changed on a running VM")]
    Pinning(&'static str),
}

/// The VM's shape.
#[derive(Debug, PartialEq, Eq)]
pub struct VmSize {
    pub vcpus: u8,
    pub memory_mib: u64,
}

/// The number annotation `key` holds, if any: from `min` to `max`.
fn annotation(
    spec: &Spec,
    key: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, SizingError> {
    let Some(value) = spec.annotations().as_ref().and_then(|a| a.get(key)) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(SizingError::Annotation {
            key,
            value: value.clone(),
            min,
            max,
        }),
    }
}

/// The VM size for `spec` on a host with `host_cpus` CPUs.
pub fn vm_size(spec: &Spec, host_cpus: u8) -> Result<VmSize, SizingError> {
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let memory_limit = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .filter(|limit| *limit > 0)
        .map(|limit| {
            let mib = (limit as u64).div_ceil(1 << 20) + MEMORY_OVERHEAD_MIB;
            if mib > MAX_MEMORY_MIB {
                return Err(SizingError::MemoryLimit(limit));
            }
            Ok(mib)
        })
        .transpose()?;
    let cpu = resources.and_then(|r| r.cpu().as_ref());
    let quota_cpus = cpu.and_then(|c| {
        let quota = c.quota().filter(|q| *q > 0)? as u64;
        let period = c.period().filter(|p| *p > 0).unwrap_or(DEFAULT_CPU_PERIOD);
        Some(quota.div_ceil(period))
    });
    let cpuset_cpus = cpu.and_then(|c| c.cpus().as_deref()).map(count_cpuset);
    let wanted = quota_cpus
        .or(cpuset_cpus)
        .unwrap_or(u64::from(DEFAULT_VCPUS));
    let vcpus = u8::try_from(wanted)
        .unwrap_or(u8::MAX)
        .clamp(1, host_cpus.max(1));
    let vcpus_max = u64::from(MAX_VCPUS);
    let vcpus = match annotation(spec, VCPUS_ANNOTATION, 1, vcpus_max)? {
        // At most MAX_VCPUS: fits.
        Some(n) => u8::try_from(n).unwrap_or(MAX_VCPUS),
        None => vcpus,
    };
    Ok(VmSize {
        vcpus,
        memory_mib: annotation(spec, MEMORY_ANNOTATION, MIN_MEMORY_MIB, MAX_MEMORY_MIB)?
            .or(memory_limit)
            .unwrap_or(DEFAULT_MEMORY_MIB),
    })
}

/// Checks that `update` resources fit the running VM of `size`: the VM
/// cannot grow, and host pinning is fixed when it boots.
pub fn check_update_fits(resources: &LinuxResources, size: &VmSize) -> Result<(), SizingError> {
    let memory_limit = resources.memory().as_ref().and_then(|m| m.limit());
    if let Some(limit) = memory_limit.filter(|l| *l > 0) {
        if limit.unsigned_abs() > size.memory_mib.saturating_mul(1 << 20) {
            return Err(SizingError::MemoryBeyondVm {
                limit,
                vm_mib: size.memory_mib,
            });
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let (Some(quota), Some(period)) = (cpu.quota(), cpu.period()) {
            if quota > 0 && period > 0 {
                let cpus = quota.unsigned_abs().div_ceil(period);
                if cpus > u64::from(size.vcpus) {
                    return Err(SizingError::CpusBeyondVm {
                        cpus,
                        vcpus: size.vcpus,
                    });
                }
            }
        }
        if cpu.cpus().as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(SizingError::Pinning("cpus"));
        }
        if cpu.mems().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(SizingError::Pinning("mems"));
        }
    }
    Ok(())
}

/// The resources as the guest applies them: host CPU and memory-node
/// numbers mean nothing in the VM (they sized it; see [`vm_size`]).
pub fn guest_resources(resources: &LinuxResources) -> LinuxResources {
    let mut guest = resources.clone();
    if let Some(cpu) = resources.cpu() {
        let mut cpu = cpu.clone();
        cpu.set_cpus(None);
        cpu.set_mems(None);
        guest.set_cpu(Some(cpu));
    }
    guest
}

/// CPUs in a cpuset string such as `0-3,6`.
fn count_cpuset(cpus: &str) -> u64 {
    cpus.split(',')
        .filter_map(|part| match part.trim().split_once('-') {
            Some((a, b)) => Some(b.parse::<u64>().ok()?.checked_sub(a.parse().ok()?)? + 1),
            None => part.trim().parse::<u64>().ok().map(|_| 1),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_without_resources() {
        let size = vm_size(&spec(r#"{"ociVersion":"1.0.2"}"#), 8).unwrap();
        assert_eq!(
            size,
            VmSize {
                vcpus: 1,
                memory_mib: 256
            }
        );
    }

    #[test]
    fn resources_size_the_vm() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":536870912},
                "cpu":{"quota":250000,"period":100000}}}}"#,
        );
        assert_eq!(
            vm_size(&s, 8).unwrap(),
            VmSize {
                vcpus: 3,
                memory_mib: 512 + 64
            }
        );
        assert_eq!(vm_size(&s, 2).unwrap().vcpus, 2, "capped by host CPUs");
        let s = spec(r#"{"ociVersion":"1.0.2","linux":{"resources":{"cpu":{"cpus":"0-3,6"}}}}"#);
        assert_eq!(vm_size(&s, 8).unwrap().vcpus, 5);
    }

    #[test]
    fn annotations_override() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","annotations":{"io.runvm.memory_mib":"1024","io.runvm.vcpus":"2"}}"#,
        );
        assert_eq!(
            vm_size(&s, 8).unwrap(),
            VmSize {
                vcpus: 2,
                memory_mib: 1024
            }
        );
        let s = spec(r#"{"ociVersion":"1.0.2","annotations":{"io.runvm.vcpus":"zero"}}"#);
        assert!(vm_size(&s, 8).is_err());
        let s = spec(r#"{"ociVersion":"1.0.2","annotations":{"io.runvm.vcpus":"33"}}"#);
        assert_eq!(
            vm_size(&s, 8).unwrap_err().to_string(),
            "annotations.io.runvm.vcpus: \"33\" is not a number from 1 to 32"
        );
        let s = spec(r#"{"ociVersion":"1.0.2","annotations":{"io.runvm.memory_mib":"16"}}"#);
        assert!(vm_size(&s, 8).is_err(), "below the VMM's minimum");
    }

    #[test]
    fn limits_beyond_a_vm_are_refused() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":9223372036854775807}}}}"#,
        );
        assert_eq!(vm_size(&s, 8), Err(SizingError::MemoryLimit(i64::MAX)));
    }

    #[test]
    fn a_quota_without_period_uses_the_default_period() {
        let s = spec(r#"{"ociVersion":"1.0.2","linux":{"resources":{"cpu":{"quota":200000}}}}"#);
        assert_eq!(vm_size(&s, 8).unwrap().vcpus, 2);
    }

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn updates_must_fit_the_running_vm() {
        let size = VmSize {
            vcpus: 2,
            memory_mib: 320,
        };
        let fits = |json| check_update_fits(&resources(json), &size);
        assert_eq!(
            fits(r#"{"memory":{"limit":268435456},"cpu":{"quota":200000,"period":100000}}"#),
            Ok(())
        );
        assert_eq!(fits(r#"{"memory":{"limit":-1}}"#), Ok(()));
        assert_eq!(
            fits(r#"{"memory":{"limit":1073741824}}"#)
                .unwrap_err()
                .to_string(),
            "memory.limit 1073741824 exceeds the VM's 320 MiB: memory hot-plug is not supported"
        );
        assert_eq!(
            fits(r#"{"cpu":{"quota":300000,"period":100000}}"#),
            Err(SizingError::CpusBeyondVm { cpus: 3, vcpus: 2 })
        );
        assert_eq!(
            fits(r#"{"cpu":{"cpus":"0"}}"#),
            Err(SizingError::Pinning("cpus"))
        );
    }

    #[test]
    fn the_guest_gets_no_host_pinning() {
        let guest = guest_resources(&resources(
            r#"{"cpu":{"cpus":"4-7","mems":"1","shares":512}}"#,
        ));
        let cpu = guest.cpu().clone().unwrap();
        assert_eq!(cpu.cpus(), &None);
        assert_eq!(cpu.mems(), &None);
        assert_eq!(cpu.shares(), Some(512));
    }
}
