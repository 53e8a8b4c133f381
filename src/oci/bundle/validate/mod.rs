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

mod annotations;
mod linux;
mod mounts;
pub mod problem;
mod process;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hook, Spec};

use super::{BundleError, SUPPORTED_OCI_MAJOR};
use crate::oci::sizing;
use problem::{escapes, has_nul, invalid, Problem};

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
pub(super) fn one_line(text: &str) -> String {
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

/// Checks `spec`, the config of the bundle at `dir` (absolute); returns
/// the root filesystem, absolute. `needs_process`: the verb starts one.
pub fn check(spec: &Spec, dir: &Path, needs_process: bool) -> Result<PathBuf, BundleError> {
    version(spec.version())?;
    match spec.process() {
        Some(process) => process::process(process)?,
        None if needs_process => return Err(BundleError::NoProcess),
        None => {}
    }
    let rootfs = root(spec, dir)?;
    let linux = spec.linux().as_ref();
    let namespaces = linux::namespaces(linux)?;
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        linux::name(field, value.as_deref(), &namespaces)?;
    }
    for (index, mount) in spec.mounts().iter().flatten().enumerate() {
        mounts::mount(&format!("mounts[{index}]"), mount, dir)?;
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
        linux::linux(linux, &namespaces, spec.hostname().is_some())?;
    }
    annotations::annotations(spec)?;
    sizing::vm_size(spec, vmm::arch::mptable::MAX_VCPUS)?;
    super::network::network(spec)?;
    super::share_cache::share_cache(spec)?;
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

fn hook(field: &str, hook: &Hook) -> Result<(), BundleError> {
    let path = hook.path();
    if has_nul(path) {
        return Err(invalid(format!("{field}.path"), Problem::Nul));
    }
    if !path.is_absolute() {
        let problem = Problem::Relative(path.clone());
        return Err(invalid(format!("{field}.path"), problem));
    }
    process::env(&format!("{field}.env"), hook.env().as_ref())?;
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

    thread_local! {
        /// A bundle directory with a rootfs, one per test (thread), removed
        /// when its test ends.
        static BUNDLE: tempfile::TempDir = {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(dir.path().join("rootfs")).unwrap();
            dir
        };
    }

    fn dir() -> PathBuf {
        BUNDLE.with(|dir| dir.path().to_path_buf())
    }

    fn result(spec: &Value) -> Result<PathBuf, BundleError> {
        let dir = dir();
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
}
