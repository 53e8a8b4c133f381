//! `linux` and the fields that need its namespaces: namespaces, hostname
//! and domain name, id mappings, masked and read-only paths, rootfs
//! propagation, sysctls, devices, resources.

use std::collections::HashSet;
use std::path::{Component, Path};

use oci_spec::runtime::{Linux, LinuxDeviceType, LinuxNamespaceType, LinuxResources};

use super::one_line;
use super::problem::{has_nul, invalid, Problem};
use crate::oci::bundle::BundleError;

/// The propagation modes of `linux.rootfsPropagation`.
const PROPAGATIONS: &[&str] = &[
    "private",
    "shared",
    "slave",
    "unbindable",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
];

/// runc's sysctls of the IPC namespace (besides `fs.mqueue.*`).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The longest hostname or domain name the kernel takes.
const MAX_NAME: usize = 64;
/// The kernel's dev_t: 12-bit majors, 20-bit minors.
const MAX_MAJOR: i64 = (1 << 12) - 1;
const MAX_MINOR: i64 = (1 << 20) - 1;

/// The namespace types asked for; each at most once, paths absolute.
pub(super) fn namespaces(
    linux: Option<&Linux>,
) -> Result<HashSet<LinuxNamespaceType>, BundleError> {
    let mut types = HashSet::new();
    let list = linux.and_then(|linux| linux.namespaces().as_ref());
    for (index, namespace) in list.into_iter().flatten().enumerate() {
        let field = format!("linux.namespaces[{index}]");
        if !types.insert(namespace.typ()) {
            let problem = Problem::Duplicate(namespace.typ().to_string());
            return Err(invalid(format!("{field}.type"), problem));
        }
        if let Some(path) = namespace.path() {
            if has_nul(path) {
                return Err(invalid(format!("{field}.path"), Problem::Nul));
            }
            if !path.as_os_str().is_empty() && !path.is_absolute() {
                let problem = Problem::Relative(path.clone());
                return Err(invalid(format!("{field}.path"), problem));
            }
        }
    }
    Ok(types)
}

pub(super) fn name(
    field: &'static str,
    value: Option<&str>,
    namespaces: &HashSet<LinuxNamespaceType>,
) -> Result<(), BundleError> {
    let Some(value) = value.filter(|value| !value.is_empty()) else {
        return Ok(());
    };
    if has_nul(value) {
        return Err(invalid(field, Problem::Nul));
    }
    if value.len() > MAX_NAME {
        return Err(invalid(field, Problem::TooLong(MAX_NAME)));
    }
    // runc: "unable to set hostname without a private UTS namespace".
    if !namespaces.contains(&LinuxNamespaceType::Uts) {
        return Err(invalid(field, Problem::NeedsNamespace("uts")));
    }
    Ok(())
}

pub(super) fn linux(
    linux: &Linux,
    namespaces: &HashSet<LinuxNamespaceType>,
    hostname: bool,
) -> Result<(), BundleError> {
    let needs = |field: &'static str, namespace: LinuxNamespaceType, name: &'static str| {
        if namespaces.contains(&namespace) {
            Ok(())
        } else {
            Err(invalid(field, Problem::NeedsNamespace(name)))
        }
    };
    if linux.uid_mappings().is_some() {
        needs("linux.uidMappings", LinuxNamespaceType::User, "user")?;
    }
    if linux.gid_mappings().is_some() {
        needs("linux.gidMappings", LinuxNamespaceType::User, "user")?;
    }
    let mappings = [
        ("linux.uidMappings", linux.uid_mappings()),
        ("linux.gidMappings", linux.gid_mappings()),
    ];
    for (field, list) in mappings {
        for (index, mapping) in list.iter().flatten().enumerate() {
            if mapping.size() == 0 {
                return Err(invalid(format!("{field}[{index}].size"), Problem::Empty));
            }
        }
    }
    if linux.time_offsets().is_some() {
        needs("linux.timeOffsets", LinuxNamespaceType::Time, "time")?;
    }
    let paths = [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ];
    for (field, list) in paths {
        let Some(list) = list.as_ref().filter(|list| !list.is_empty()) else {
            continue;
        };
        // runc: "unable to restrict sys entries without a private MNT namespace".
        needs(field, LinuxNamespaceType::Mount, "mount")?;
        for (index, path) in list.iter().enumerate() {
            let field = format!("{field}[{index}]");
            if has_nul(path) {
                return Err(invalid(field, Problem::Nul));
            }
            if !Path::new(path).is_absolute() {
                return Err(invalid(field, Problem::Relative(path.into())));
            }
        }
    }
    if let Some(propagation) = linux.rootfs_propagation() {
        if !propagation.is_empty() && !PROPAGATIONS.contains(&propagation.as_str()) {
            let problem = Problem::Invalid(propagation.clone(), "a propagation mode");
            return Err(invalid("linux.rootfsPropagation", problem));
        }
    }
    let mut keys: Vec<(&String, &String)> = linux.sysctl().iter().flatten().collect();
    keys.sort();
    for (key, value) in keys {
        sysctl(key, value, namespaces, hostname)?;
    }
    for (index, device) in linux.devices().iter().flatten().enumerate() {
        let field = format!("linux.devices[{index}]");
        let path = device.path();
        let problem = if path.as_os_str().is_empty() {
            Some(Problem::Empty)
        } else if has_nul(path) {
            Some(Problem::Nul)
        } else if !path.is_absolute() {
            Some(Problem::Relative(path.clone()))
        } else if path.components().any(|part| part == Component::ParentDir) {
            Some(Problem::ParentDir(path.clone()))
        } else if path.file_name().is_none() {
            Some(Problem::Invalid(path.display().to_string(), "a file path"))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(invalid(format!("{field}.path"), problem));
        }
        if device.typ() == LinuxDeviceType::A {
            let problem = Problem::Invalid("a".into(), "a device node type (c, b, u or p)");
            return Err(invalid(format!("{field}.type"), problem));
        }
        number(&format!("{field}.major"), device.major(), MAX_MAJOR)?;
        number(&format!("{field}.minor"), device.minor(), MAX_MINOR)?;
    }
    if let Some(resources) = linux.resources() {
        self::resources(resources)?;
    }
    Ok(())
}

/// A device major or minor: 0 to `max`.
fn number(field: &str, value: i64, max: i64) -> Result<(), BundleError> {
    if (0..=max).contains(&value) {
        return Ok(());
    }
    let range = if max == MAX_MAJOR {
        "0..=4095"
    } else {
        "0..=1048575"
    };
    let value = value.into();
    Err(invalid(field, Problem::Range { value, range }))
}

/// runc's rule: only sysctls of a namespace the container has of its own.
fn sysctl(
    key: &str,
    value: &str,
    namespaces: &HashSet<LinuxNamespaceType>,
    hostname: bool,
) -> Result<(), BundleError> {
    let field = format!("linux.sysctl.{}", one_line(key));
    if has_nul(key) || has_nul(value) {
        return Err(invalid(field, Problem::Nul));
    }
    let well_formed = key
        .split(['.', '/'])
        .all(|part| !part.is_empty() && part != "..");
    if !well_formed {
        return Err(invalid(field, Problem::Invalid(key.into(), "a sysctl key")));
    }
    // `/` may separate instead of `.` (sysctl.d(5)): then a `.` is part
    // of a name, as in net/ipv4/conf/eth0.100/rp_filter.
    let dotted: String = if key
        .find(['.', '/'])
        .is_some_and(|i| key[i..].starts_with('/'))
    {
        key.chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect()
    } else {
        key.to_owned()
    };
    let needs = |namespace: LinuxNamespaceType, name: &'static str| {
        if namespaces.contains(&namespace) {
            Ok(())
        } else {
            Err(invalid(field.clone(), Problem::NeedsNamespace(name)))
        }
    };
    if IPC_SYSCTLS.contains(&dotted.as_str()) || dotted.starts_with("fs.mqueue.") {
        return needs(LinuxNamespaceType::Ipc, "ipc");
    }
    if dotted.starts_with("net.") {
        return needs(LinuxNamespaceType::Network, "network");
    }
    if namespaces.contains(&LinuxNamespaceType::Uts) {
        match dotted.as_str() {
            "kernel.domainname" => return Ok(()),
            "kernel.hostname" if hostname => {
                return Err(invalid(field, Problem::Conflicts("hostname")))
            }
            "kernel.hostname" => return Ok(()),
            _ => {}
        }
    }
    Err(invalid(field, Problem::NotNamespaced(dotted)))
}

/// Whether `text` is a CPU or memory-node list such as `0-3,6`.
fn is_cpu_list(text: &str) -> bool {
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    text.split(',').all(|part| match part.split_once('-') {
        Some((low, high)) => {
            number(low)
                && number(high)
                && matches!((low.parse::<u64>(), high.parse::<u64>()), (Ok(low), Ok(high)) if low <= high)
        }
        None => number(part),
    })
}

fn resources(resources: &LinuxResources) -> Result<(), BundleError> {
    const UNLIMITED: &str = "-1 (unlimited) or more";
    let at_least_minus_one = |field: &str, value: Option<i64>| match value {
        Some(value) if value < -1 => Err(invalid(
            field,
            Problem::Range {
                value: value.into(),
                range: UNLIMITED,
            },
        )),
        _ => Ok(()),
    };
    if let Some(memory) = resources.memory() {
        let fields = [
            ("linux.resources.memory.limit", memory.limit()),
            ("linux.resources.memory.reservation", memory.reservation()),
            ("linux.resources.memory.swap", memory.swap()),
            ("linux.resources.memory.kernel", memory.kernel()),
            ("linux.resources.memory.kernelTCP", memory.kernel_tcp()),
        ];
        for (field, value) in fields {
            at_least_minus_one(field, value)?;
        }
        if let Some(swappiness) = memory.swappiness().filter(|s| *s > 100) {
            let problem = Problem::Range {
                value: swappiness.into(),
                range: "0..=100",
            };
            return Err(invalid("linux.resources.memory.swappiness", problem));
        }
        // runc's cgroup v2 rules for memory+swap.
        let (limit, swap) = (memory.limit().unwrap_or(0), memory.swap().unwrap_or(0));
        if swap > 0 {
            const FIELD: &str = "linux.resources.memory.swap";
            if limit <= 0 {
                return Err(invalid(FIELD, Problem::Without("memory.limit")));
            }
            if swap < limit {
                return Err(invalid(FIELD, Problem::SwapBelowLimit { swap, limit }));
            }
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = cpu.quota() {
            if quota < -1 || (0 < quota && quota < 1000) {
                let problem = Problem::Range {
                    value: quota.into(),
                    range: "-1 (unlimited), or 1000 (µs) or more",
                };
                return Err(invalid("linux.resources.cpu.quota", problem));
            }
        }
        if let Some(period) = cpu.period().filter(|p| *p != 0) {
            if !(1000..=1_000_000).contains(&period) {
                let problem = Problem::Range {
                    value: period.into(),
                    range: "1000..=1000000 (µs)",
                };
                return Err(invalid("linux.resources.cpu.period", problem));
            }
        }
        if let Some(shares) = cpu.shares().filter(|s| *s > 262_144) {
            let problem = Problem::Range {
                value: shares.into(),
                range: "0..=262144",
            };
            return Err(invalid("linux.resources.cpu.shares", problem));
        }
        let lists = [
            ("linux.resources.cpu.cpus", cpu.cpus()),
            ("linux.resources.cpu.mems", cpu.mems()),
        ];
        for (field, list) in lists {
            if let Some(list) = list.as_deref().filter(|list| !list.is_empty()) {
                if !is_cpu_list(list) {
                    let problem = Problem::Invalid(list.into(), "a list such as 0-3,6");
                    return Err(invalid(field, problem));
                }
            }
        }
    }
    if let Some(pids) = resources.pids() {
        at_least_minus_one("linux.resources.pids.limit", Some(pids.limit()))?;
    }
    if let Some(block_io) = resources.block_io() {
        let weight = |field: String, value: Option<u16>| match value {
            Some(value) if value != 0 && !(10..=1000).contains(&value) => {
                let problem = Problem::Range {
                    value: value.into(),
                    range: "10..=1000",
                };
                Err(invalid(field, problem))
            }
            _ => Ok(()),
        };
        weight("linux.resources.blockIO.weight".into(), block_io.weight())?;
        weight(
            "linux.resources.blockIO.leafWeight".into(),
            block_io.leaf_weight(),
        )?;
        for (index, device) in block_io.weight_device().iter().flatten().enumerate() {
            let field = format!("linux.resources.blockIO.weightDevice[{index}]");
            weight(format!("{field}.weight"), device.weight())?;
            weight(format!("{field}.leafWeight"), device.leaf_weight())?;
        }
    }
    for (index, rule) in resources.devices().iter().flatten().enumerate() {
        let field = format!("linux.resources.devices[{index}]");
        if let Some(typ @ (LinuxDeviceType::U | LinuxDeviceType::P)) = rule.typ() {
            let problem = Problem::Invalid(typ.as_str().into(), "a device rule type (a, b or c)");
            return Err(invalid(format!("{field}.type"), problem));
        }
        if let Some(access) = rule.access() {
            if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
                let problem = Problem::Invalid(access.clone(), "made of r, w and m");
                return Err(invalid(format!("{field}.access"), problem));
            }
        }
    }
    let mut unified: Vec<&String> = resources
        .unified()
        .iter()
        .flat_map(|map| map.keys())
        .collect();
    unified.sort();
    for key in unified {
        // A file of the container's cgroup: `controller.name`, no path.
        let well_formed = key
            .split_once('.')
            .is_some_and(|(controller, name)| !controller.is_empty() && !name.is_empty())
            && !key.contains(['/', '\0']);
        if !well_formed {
            let field = format!("linux.resources.unified.{}", one_line(key));
            let problem = Problem::Invalid(key.clone(), "a cgroup file name such as memory.high");
            return Err(invalid(field, problem));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        for good in ["0", "0-3", "0-3,6", "1,2,3"] {
            assert!(is_cpu_list(good), "{good}");
        }
        for bad in ["", "a", "3-1", "0-", "-1", "0,,1", "0-3-5"] {
            assert!(!is_cpu_list(bad), "{bad}");
        }
    }
}
