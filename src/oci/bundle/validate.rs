//! Checking config.json before anything is created. Whatever runvm, its
//! monitor or the guest agent would refuse or get wrong is refused here
//! first, on any host (KVM or not), in one line naming the field by its
//! JSON path: `config.json: process.user.uid: ...`,
//! `config.json: mounts[2].destination: ...`.
//!
//! The rules are the OCI runtime spec's, runc's where runc is stricter
//! (a hostname needs a UTS namespace, sysctls must be namespaced, ...),
//! and the guest agent's own limits. Paths inside the container
//! (`process.cwd`, mount destinations, masked paths) are checked as text
//! only: they mean something in the guest, never on the host, so nothing
//! here resolves them (a cwd of `/proc/self/fd/3` is the guest's affair).
//! Host paths (the rootfs, bind-mount sources, `io.runvm.kernel`) must
//! exist.

use std::collections::HashSet;
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{
    Hook, Linux, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Mount, Process, Spec,
};

use super::network::{NETWORK_ANNOTATION, NETWORK_NONE};
use super::{BundleError, SUPPORTED_OCI_MAJOR};
use crate::oci::sizing::{self, KERNEL_ANNOTATION, MEMORY_ANNOTATION, VCPUS_ANNOTATION};

/// What is wrong with one field of config.json.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Problem {
    #[error("missing")]
    Missing,
    #[error("must not be empty")]
    Empty,
    #[error("contains a NUL byte")]
    Nul,
    #[error("{0:?} is not a version MAJOR.MINOR.PATCH")]
    NotSemver(String),
    #[error("{0:?} is not supported: runvm supports {SUPPORTED_OCI_MAJOR}.x")]
    Version(String),
    #[error("{0:?} is not an absolute path")]
    Relative(PathBuf),
    #[error("{0:?} leaves {1}")]
    Escapes(PathBuf, &'static str),
    #[error("{0:?} contains ..")]
    ParentDir(PathBuf),
    #[error("{0:?} does not exist")]
    NoSuchPath(PathBuf),
    #[error("{0:?} does not exist or is not a directory")]
    NotDir(PathBuf),
    #[error("{0:?} does not exist or is not a file")]
    NotFile(PathBuf),
    #[error("{0:?} is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("{0} is given twice")]
    Duplicate(String),
    #[error("soft limit {soft} exceeds hard limit {hard}")]
    SoftAboveHard { soft: u64, hard: u64 },
    #[error("{value} is outside {range}")]
    Range { value: i128, range: &'static str },
    #[error("is longer than {0} bytes")]
    TooLong(usize),
    #[error("needs a {0} namespace in linux.namespaces")]
    NeedsNamespace(&'static str),
    #[error("{0:?} is not in a namespace of the container's own")]
    NotNamespaced(String),
    #[error("conflicts with the {0} field")]
    Conflicts(&'static str),
    #[error("{0} is not supported")]
    Unsupported(String),
    #[error("no type and no bind option")]
    NoType,
    #[error("{0:?} is not {1}")]
    Invalid(String, &'static str),
    #[error("{swap} is below memory.limit {limit}")]
    SwapBelowLimit { swap: i64, limit: i64 },
    #[error("is set without {0}")]
    Without(&'static str),
    #[error("{0:?} is not a runvm annotation ({MEMORY_ANNOTATION}, {VCPUS_ANNOTATION}, {KERNEL_ANNOTATION}, {NETWORK_ANNOTATION})")]
    UnknownAnnotation(String),
    #[error(
        "no network namespace: a VM cannot share the host's network stack (give the \
         container a network namespace, or the annotation {NETWORK_ANNOTATION}={NETWORK_NONE} \
         for a VM without network)"
    )]
    HostNetwork,
}

/// The filesystem types the guest agent mounts besides binds
/// (guest/src/agent/mounts.rs).
const FILESYSTEMS: &[&str] = &[
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// Mount options the guest agent refuses rather than ignores.
const REFUSED_OPTIONS: &[&str] = &["tmpcopyup", "idmap", "ridmap"];

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

/// Parses config.json; a syntax or type error names the JSON path it was
/// found at, and serde's line and column.
pub fn parse(bytes: &[u8]) -> Result<Spec, BundleError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = json_path(error.path());
        let message = one_line(&error.inner().to_string());
        BundleError::Json(if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        })
    })?;
    deserializer
        .end()
        .map_err(|error| BundleError::Json(one_line(&error.to_string())))?;
    Ok(spec)
}

/// A serde path as runvm writes field paths: `mounts[2].options[0]`.
/// Empty where serde knows no path (a syntax error between fields).
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&one_line(key));
            }
            // Where serde could not tell (a key being read): nothing to name.
            Segment::Unknown => {}
        }
    }
    out
}

/// `text` with control characters escaped: errors are one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Whether a relative path climbs above where it starts.
pub(crate) fn escapes(path: &Path) -> bool {
    let mut depth: i32 = 0;
    for component in path.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

fn invalid(field: impl Into<String>, problem: Problem) -> BundleError {
    BundleError::Invalid {
        field: field.into(),
        problem,
    }
}

fn has_nul(text: impl AsRef<std::ffi::OsStr>) -> bool {
    use std::os::unix::ffi::OsStrExt;
    text.as_ref().as_bytes().contains(&0)
}

/// Checks `spec`, the config of the bundle at `dir` (absolute); returns
/// the root filesystem, absolute. `needs_process`: the verb starts one.
pub fn check(spec: &Spec, dir: &Path, needs_process: bool) -> Result<PathBuf, BundleError> {
    version(spec.version())?;
    match spec.process() {
        Some(process) => self::process(process)?,
        None if needs_process => return Err(BundleError::NoProcess),
        None => {}
    }
    let rootfs = root(spec, dir)?;
    let linux = spec.linux().as_ref();
    let namespaces = namespaces(linux)?;
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        name(field, value.as_deref(), &namespaces)?;
    }
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        self::mount(&format!("mounts[{index}]"), mount, dir)?;
    }
    if let Some(hooks) = spec.hooks() {
        let lists = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (list, hooks) in lists {
            for (index, hook) in hooks.iter().flatten().enumerate() {
                self::hook(&format!("hooks.{list}[{index}]"), hook)?;
            }
        }
    }
    if let Some(linux) = linux {
        self::linux(linux, &namespaces, spec.hostname().is_some())?;
    }
    annotations(spec)?;
    sizing::vm_size(spec, vmm::arch::mptable::MAX_VCPUS)?;
    super::network::network(spec)?;
    Ok(rootfs)
}

/// The MAJOR of a semantic version `MAJOR.MINOR.PATCH[-PRE][+BUILD]`.
fn semver_major(version: &str) -> Option<&str> {
    let identifiers = |text: &str| {
        text.split('.')
            .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let number = |text: &str| {
        !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'))
    };
    let (rest, build) = version
        .split_once('+')
        .map_or((version, None), |(rest, build)| (rest, Some(build)));
    let (core, pre) = rest
        .split_once('-')
        .map_or((rest, None), |(core, pre)| (core, Some(pre)));
    if build.is_some_and(|build| !identifiers(build)) {
        return None;
    }
    let pre_ok = |pre: &str| {
        identifiers(pre)
            && pre
                .split('.')
                .all(|id| number(id) || !id.bytes().all(|b| b.is_ascii_digit()))
    };
    if pre.is_some_and(|pre| !pre_ok(pre)) {
        return None;
    }
    let parts: Vec<&str> = core.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|part| number(part))).then_some(parts[0])
}

fn version(version: &str) -> Result<(), BundleError> {
    const FIELD: &str = "ociVersion";
    if version.is_empty() {
        return Err(invalid(FIELD, Problem::Missing));
    }
    match semver_major(version) {
        None => Err(invalid(FIELD, Problem::NotSemver(version.into()))),
        Some(SUPPORTED_OCI_MAJOR) => Ok(()),
        Some(_) => Err(invalid(FIELD, Problem::Version(version.into()))),
    }
}

fn root(spec: &Spec, dir: &Path) -> Result<PathBuf, BundleError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", Problem::Missing))?;
    let path = root.path();
    let problem = if path.as_os_str().is_empty() {
        Some(Problem::Empty)
    } else if has_nul(path) {
        Some(Problem::Nul)
    } else if path.is_relative() && escapes(path) {
        Some(Problem::Escapes(path.clone(), "the bundle"))
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(invalid("root.path", problem));
    }
    // An absolute root.path is the spec's too; a symlink is followed.
    let rootfs = dir.join(path);
    if !rootfs.is_dir() {
        return Err(invalid("root.path", Problem::NotDir(rootfs)));
    }
    Ok(rootfs)
}

/// `KEY=VALUE` entries: a non-empty key, no NUL.
fn env(field: &str, env: Option<&Vec<String>>) -> Result<(), BundleError> {
    for (index, entry) in env.into_iter().flatten().enumerate() {
        let field = format!("{field}[{index}]");
        if has_nul(entry) {
            return Err(invalid(field, Problem::Nul));
        }
        if entry.split_once('=').is_none_or(|(key, _)| key.is_empty()) {
            return Err(invalid(field, Problem::NotKeyValue(entry.clone())));
        }
    }
    Ok(())
}

fn process(process: &Process) -> Result<(), BundleError> {
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", Problem::Empty));
    }
    for (index, arg) in args.iter().enumerate() {
        if has_nul(arg) {
            return Err(invalid(format!("process.args[{index}]"), Problem::Nul));
        }
    }
    if args[0].is_empty() {
        return Err(invalid("process.args[0]", Problem::Empty));
    }
    env("process.env", process.env().as_ref())?;
    // Only as text: the cwd is resolved in the guest, in the container.
    let cwd = process.cwd();
    if has_nul(cwd) {
        return Err(invalid("process.cwd", Problem::Nul));
    }
    if !cwd.is_absolute() {
        return Err(invalid("process.cwd", Problem::Relative(cwd.clone())));
    }
    // consoleSize is ignored without a terminal, as the spec says.
    if let (Some(true), Some(size)) = (process.terminal(), process.console_size()) {
        for (field, value) in [("height", size.height()), ("width", size.width())] {
            if value > u64::from(u16::MAX) {
                let range = "0..=65535";
                let value = i128::from(value);
                let field = format!("process.consoleSize.{field}");
                return Err(invalid(field, Problem::Range { value, range }));
            }
        }
    }
    let mut types = Vec::new();
    for (index, rlimit) in process.rlimits().iter().flatten().enumerate() {
        let field = format!("process.rlimits[{index}]");
        if types.contains(&rlimit.typ()) {
            let problem = Problem::Duplicate(rlimit.typ().to_string());
            return Err(invalid(format!("{field}.type"), problem));
        }
        if rlimit.soft() > rlimit.hard() {
            let (soft, hard) = (rlimit.soft(), rlimit.hard());
            return Err(invalid(field, Problem::SoftAboveHard { soft, hard }));
        }
        types.push(rlimit.typ());
    }
    if let Some(score) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&score) {
            let problem = Problem::Range {
                value: score.into(),
                range: "-1000..=1000",
            };
            return Err(invalid("process.oomScoreAdj", problem));
        }
    }
    if let Some(io) = process.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            let problem = Problem::Range {
                value: io.priority().into(),
                range: "0..=7",
            };
            return Err(invalid("process.ioPriority.priority", problem));
        }
    }
    // The guest agent refuses these rather than run the process otherwise
    // than asked.
    if process.scheduler().is_some() {
        return Err(invalid(
            "process.scheduler",
            Problem::Unsupported("a scheduler".into()),
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(invalid(
            "process.execCPUAffinity",
            Problem::Unsupported("a CPU affinity".into()),
        ));
    }
    Ok(())
}

/// The namespace types asked for; each at most once, paths absolute.
fn namespaces(linux: Option<&Linux>) -> Result<HashSet<LinuxNamespaceType>, BundleError> {
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

fn name(
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

fn mount(field: &str, mount: &Mount, bundle: &Path) -> Result<(), BundleError> {
    let destination = mount.destination();
    let at = |part: &str| format!("{field}.{part}");
    if destination.as_os_str().is_empty() {
        return Err(invalid(at("destination"), Problem::Empty));
    }
    if has_nul(destination) {
        return Err(invalid(at("destination"), Problem::Nul));
    }
    // A relative destination is relative to `/` (the spec allows it);
    // either way it may not climb above the container root.
    if escapes(destination) {
        let problem = Problem::Escapes(destination.clone(), "the container root");
        return Err(invalid(at("destination"), problem));
    }
    let options = mount.options().as_deref().unwrap_or_default();
    for (index, option) in options.iter().enumerate() {
        if has_nul(option) {
            return Err(invalid(format!("{field}.options[{index}]"), Problem::Nul));
        }
        if REFUSED_OPTIONS.contains(&option.as_str()) {
            let problem = Problem::Unsupported(format!("option {option:?}"));
            return Err(invalid(format!("{field}.options[{index}]"), problem));
        }
    }
    let typ = mount.typ().as_deref().unwrap_or_default();
    if has_nul(typ) {
        return Err(invalid(at("type"), Problem::Nul));
    }
    if crate::monitor::sandbox::share::is_bind(mount) {
        let source = mount
            .source()
            .as_ref()
            .filter(|source| !source.as_os_str().is_empty())
            .ok_or_else(|| invalid(at("source"), Problem::Missing))?;
        if has_nul(source) {
            return Err(invalid(at("source"), Problem::Nul));
        }
        // A host path, absolute or relative to the bundle; outside the
        // bundle is fine (the spec's bind mounts of host paths).
        if !bundle.join(source).exists() {
            return Err(invalid(at("source"), Problem::NoSuchPath(source.clone())));
        }
    } else if typ.is_empty() || typ == "none" {
        return Err(invalid(at("type"), Problem::NoType));
    } else if !FILESYSTEMS.contains(&typ) {
        let problem = Problem::Unsupported(format!("type {typ:?}"));
        return Err(invalid(at("type"), problem));
    } else if mount.source().as_ref().is_some_and(has_nul) {
        return Err(invalid(at("source"), Problem::Nul));
    }
    Ok(())
}

fn hook(field: &str, hook: &Hook) -> Result<(), BundleError> {
    let path = hook.path();
    if has_nul(path) {
        return Err(invalid(format!("{field}.path"), Problem::Nul));
    }
    if !path.is_absolute() {
        let problem = Problem::Relative(path.clone());
        return Err(invalid(format!("{field}.path"), problem));
    }
    env(&format!("{field}.env"), hook.env().as_ref())?;
    if let Some(timeout) = hook.timeout() {
        if timeout <= 0 {
            let problem = Problem::Range {
                value: timeout.into(),
                range: "1 second or more",
            };
            return Err(invalid(format!("{field}.timeout"), problem));
        }
    }
    Ok(())
}

fn linux(
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

/// `io.runvm.*` annotations: only the known ones; the kernel a host file.
/// (The sizing ones are checked by [`sizing::vm_size`].)
fn annotations(spec: &Spec) -> Result<(), BundleError> {
    let mut keys: Vec<(&String, &String)> = spec.annotations().iter().flatten().collect();
    keys.sort();
    for (key, value) in keys {
        if !key.starts_with("io.runvm.") {
            continue;
        }
        let field = format!("annotations.{}", one_line(key));
        let known = [
            MEMORY_ANNOTATION,
            VCPUS_ANNOTATION,
            KERNEL_ANNOTATION,
            NETWORK_ANNOTATION,
        ];
        if !known.contains(&key.as_str()) {
            return Err(invalid(field, Problem::UnknownAnnotation(key.clone())));
        }
        if key == KERNEL_ANNOTATION {
            let path = Path::new(value);
            if has_nul(path) {
                return Err(invalid(field, Problem::Nul));
            }
            // Relative would mean relative to the monitor's cwd.
            if !path.is_absolute() {
                return Err(invalid(field, Problem::Relative(path.into())));
            }
            if !path.is_file() {
                return Err(invalid(field, Problem::NotFile(path.into())));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A minimal valid config with `extra` merged in at the top level.
    fn config(extra: Value) -> Value {
        let mut spec = json!({
            "ociVersion": "1.2.0",
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [{"type": "uts"}, {"type": "mount"}, {"type": "ipc"},
                                     {"type": "network"}]},
        });
        for (key, value) in extra.as_object().unwrap() {
            spec[key] = value.clone();
        }
        spec
    }

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("runvm-validate-{}", std::process::id()))
    }

    fn result(spec: &Value) -> Result<PathBuf, BundleError> {
        let dir = dir();
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        let spec = parse(spec.to_string().as_bytes())?;
        check(&spec, &dir, true)
    }

    fn refused(extra: Value) -> String {
        result(&config(extra)).unwrap_err().to_string()
    }

    fn linux(extra: Value) -> String {
        let mut linux = config(json!({}))["linux"].clone();
        for (key, value) in extra.as_object().unwrap() {
            linux[key] = value.clone();
        }
        refused(json!({ "linux": linux }))
    }

    fn process(extra: Value) -> String {
        let mut process = config(json!({}))["process"].clone();
        for (key, value) in extra.as_object().unwrap() {
            process[key] = value.clone();
        }
        refused(json!({ "process": process }))
    }

    #[test]
    fn a_minimal_config_passes() {
        assert_eq!(result(&config(json!({}))).unwrap(), dir().join("rootfs"));
    }

    #[test]
    fn serde_errors_name_the_path_and_position() {
        let err = parse(b"{\"ociVersion\": \"1.2.0\",")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config.json: EOF while parsing a value at line 1 column 23"
        );
        let uid = process(json!({"user": {"uid": -1, "gid": 0}}));
        assert!(
            uid.starts_with("config.json: process.user.uid: invalid value: integer `-1`"),
            "{uid}"
        );
        let gids =
            process(json!({"user": {"uid": 0, "gid": 0, "additionalGids": [1, 4294967296u64]}}));
        assert!(
            gids.starts_with("config.json: process.user.additionalGids[1]: "),
            "{gids}"
        );
        let ns = linux(json!({"namespaces": [{"type": "uts"}, {"type": "bogus"}]}));
        assert!(
            ns.starts_with("config.json: linux.namespaces[1].type: unknown variant `bogus`"),
            "{ns}"
        );
        let trailing = parse(b"{\"ociVersion\": \"1.2.0\"} x")
            .unwrap_err()
            .to_string();
        assert!(
            trailing.contains("trailing characters at line 1 column 25"),
            "{trailing}"
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        let err = refused(json!({"annotations": {"io.runvm.x\ny": "1"}}));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("config.json: annotations.io.runvm.x\\ny: "),
            "{err}"
        );
        let err = parse(b"{\"ociVersion\": 1, \"a\nb\": 2}")
            .unwrap_err()
            .to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn versions() {
        assert_eq!(semver_major("1.2.0"), Some("1"));
        assert_eq!(semver_major("1.0.2-dev"), Some("1"));
        assert_eq!(semver_major("1.0.0-rc.1+build.5"), Some("1"));
        for bad in [
            "1", "1.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0+", "v1.0.0", "1.0.0-01", "1.a.0",
        ] {
            assert_eq!(semver_major(bad), None, "{bad}");
        }
        assert_eq!(
            refused(json!({"ociVersion": "2.0.0"})),
            "config.json: ociVersion: \"2.0.0\" is not supported: runvm supports 1.x"
        );
        assert_eq!(
            refused(json!({"ociVersion": ""})),
            "config.json: ociVersion: missing"
        );
    }

    #[test]
    fn process_problems() {
        assert_eq!(
            process(json!({"args": []})),
            "config.json: process.args: must not be empty"
        );
        assert_eq!(
            process(json!({"cwd": "tmp"})),
            "config.json: process.cwd: \"tmp\" is not an absolute path"
        );
        assert_eq!(
            process(json!({"env": ["A=1", "B"]})),
            "config.json: process.env[1]: \"B\" is not KEY=VALUE"
        );
        assert_eq!(
            process(json!({"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]})),
            "config.json: process.rlimits[0]: soft limit 2 exceeds hard limit 1"
        );
        let twice = json!({"rlimits": [{"type": "RLIMIT_CORE", "soft": 1, "hard": 1},
            {"type": "RLIMIT_CORE", "soft": 1, "hard": 1}]});
        assert_eq!(
            process(twice),
            "config.json: process.rlimits[1].type: RLIMIT_CORE is given twice"
        );
        assert_eq!(
            process(json!({"oomScoreAdj": 1001})),
            "config.json: process.oomScoreAdj: 1001 is outside -1000..=1000"
        );
        assert_eq!(
            refused(json!({"process": null})),
            "config.json: process is missing"
        );
    }

    #[test]
    fn what_the_spec_allows_passes() {
        let ok = |extra: Value| {
            result(&config(extra.clone())).unwrap_or_else(|e| panic!("{extra}: {e}"));
        };
        // The cwd is the guest's: never resolved on the host.
        ok(
            json!({"process": {"args": ["sh"], "cwd": "/proc/self/fd/3", "user": {"uid": 0, "gid": 0}}}),
        );
        // consoleSize is ignored without a terminal.
        ok(
            json!({"process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "consoleSize": {"height": 100000, "width": 1}}}),
        );
        // A relative mount destination is relative to /.
        ok(json!({"mounts": [{"destination": "tmp", "type": "tmpfs"}]}));
        // Host paths outside the bundle.
        ok(json!({"mounts": [{"destination": "/h", "type": "bind", "source": "/tmp"}]}));
        let abs = dir().join("rootfs");
        ok(json!({"root": {"path": abs}}));
        ok(
            json!({"linux": {"namespaces": [{"type": "ipc"}, {"type": "network"}],
            "sysctl": {"kernel.shmmax": "1", "net/ipv4/conf/eth0.100/rp_filter": "1"}}}),
        );
        ok(json!({"linux": {"namespaces": [{"type": "network"}],
            "resources": {"cpu": {"quota": 50000}, "memory": {"limit": -1}}}}));
        ok(json!({"unknownField": {"anything": 1}}));
    }

    #[test]
    fn namespaced_things() {
        let hostname = refused(json!({"hostname": "h", "linux": {}}));
        assert_eq!(
            hostname,
            "config.json: hostname: needs a uts namespace in linux.namespaces"
        );
        assert_eq!(
            linux(json!({"sysctl": {"vm.overcommit_memory": "1"}})),
            "config.json: linux.sysctl.vm.overcommit_memory: \"vm.overcommit_memory\" is not in a namespace of the container's own"
        );
        assert_eq!(
            linux(json!({"namespaces": [{"type": "uts"}], "sysctl": {"net.ipv4.ip_forward": "1"}})),
            "config.json: linux.sysctl.net.ipv4.ip_forward: needs a network namespace in linux.namespaces"
        );
        assert_eq!(
            refused(
                json!({"hostname": "h", "linux": {"namespaces": [{"type": "uts"}],
                "sysctl": {"kernel.hostname": "x"}}})
            ),
            "config.json: linux.sysctl.kernel.hostname: conflicts with the hostname field"
        );
        assert_eq!(
            linux(json!({"namespaces": [{"type": "pid"}, {"type": "pid"}]})),
            "config.json: linux.namespaces[1].type: pid is given twice"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            refused(json!({"root": {"path": "../../etc"}})),
            "config.json: root.path: \"../../etc\" leaves the bundle"
        );
        assert!(refused(json!({"root": {"path": "nope"}})).starts_with("config.json: root.path: "));
        assert_eq!(
            refused(json!({"mounts": [{"destination": "/a/../../etc", "type": "tmpfs"}]})),
            "config.json: mounts[0].destination: \"/a/../../etc\" leaves the container root"
        );
        assert_eq!(
            refused(
                json!({"mounts": [{"destination": "/x", "type": "bind", "source": "/nonexistent/runvm"}]})
            ),
            "config.json: mounts[0].source: \"/nonexistent/runvm\" does not exist"
        );
        assert_eq!(
            refused(
                json!({"mounts": [{"destination": "/x", "type": "ext4", "source": "/dev/vda"}]})
            ),
            "config.json: mounts[0].type: type \"ext4\" is not supported"
        );
        assert_eq!(
            linux(json!({"maskedPaths": ["proc/kcore"]})),
            "config.json: linux.maskedPaths[0]: \"proc/kcore\" is not an absolute path"
        );
        assert_eq!(
            refused(json!({"hooks": {"prestart": [{"path": "hook"}]}})),
            "config.json: hooks.prestart[0].path: \"hook\" is not an absolute path"
        );
    }

    #[test]
    fn resources_and_annotations() {
        assert_eq!(
            linux(json!({"resources": {"memory": {"limit": -2}}})),
            "config.json: linux.resources.memory.limit: -2 is outside -1 (unlimited) or more"
        );
        assert_eq!(
            linux(json!({"resources": {"cpu": {"cpus": "3-1"}}})),
            "config.json: linux.resources.cpu.cpus: \"3-1\" is not a list such as 0-3,6"
        );
        assert_eq!(
            linux(json!({"devices": [{"path": "/dev/x", "type": "c", "major": 4096, "minor": 0}]})),
            "config.json: linux.devices[0].major: 4096 is outside 0..=4095"
        );
        assert_eq!(
            refused(json!({"annotations": {"io.runvm.vcpus": "0"}})),
            "config.json: annotations.io.runvm.vcpus: \"0\" is not a number from 1 to 32"
        );
        assert_eq!(
            refused(json!({"annotations": {"io.runvm.kernel": "vmlinux"}})),
            "config.json: annotations.io.runvm.kernel: \"vmlinux\" is not an absolute path"
        );
        assert!(refused(json!({"annotations": {"io.runvm.memory": "1"}}))
            .starts_with("config.json: annotations.io.runvm.memory: \"io.runvm.memory\" is not a runvm annotation"));
    }

    #[test]
    fn escape_detection() {
        assert!(escapes(Path::new("../x")));
        assert!(escapes(Path::new("a/../../x")));
        assert!(escapes(Path::new("/../x")));
        assert!(!escapes(Path::new("a/../b")));
        assert!(!escapes(Path::new("rootfs")));
    }

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
