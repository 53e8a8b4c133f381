//! The example `config.json` that `runvm spec` writes: runc's template
//! (libcontainer/specconv), with runvm as the hostname, and runc's
//! changes for a rootless container.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxNamespace, LinuxNamespaceType,
    LinuxResources, Mount, Process, Root, Spec, User,
};

use crate::container::OCI_VERSION;

/// The file `runvm spec` writes in the bundle.
pub const CONFIG: &str = "config.json";

/// Why the template could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("File {CONFIG} exists. Remove it first")]
    Exists,
    #[error("writing {}", .0.display())]
    Write(PathBuf, #[source] std::io::Error),
    #[error("encoding {CONFIG}")]
    Encode(#[source] serde_json::Error),
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut mount = Mount::default();
    mount
        .set_destination(destination.into())
        .set_typ(Some(typ.to_owned()))
        .set_source(Some(source.into()))
        .set_options((!options.is_empty()).then(|| strings(options)));
    mount
}

fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
    let mut namespace = LinuxNamespace::default();
    namespace.set_typ(typ);
    namespace
}

/// runc's example spec: a shell on a terminal, in a read-only `rootfs`.
pub fn example() -> Spec {
    let caps: oci_spec::runtime::Capabilities = [
        Capability::AuditWrite,
        Capability::Kill,
        Capability::NetBindService,
    ]
    .into();
    let mut capabilities = LinuxCapabilities::default();
    capabilities
        .set_bounding(Some(caps.clone()))
        .set_effective(Some(caps.clone()))
        .set_permitted(Some(caps))
        .set_inheritable(None)
        .set_ambient(None);
    // oci-spec's default process has runc's one rlimit, RLIMIT_NOFILE
    // 1024/1024 (which has no setters to write it here).
    let mut process = Process::default();
    process
        .set_terminal(Some(true))
        .set_user(User::default())
        .set_args(Some(strings(&["sh"])))
        .set_env(Some(strings(&[
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ])))
        .set_cwd("/".into())
        .set_no_new_privileges(Some(true))
        .set_capabilities(Some(capabilities));

    let mut root = Root::default();
    root.set_path("rootfs".into()).set_readonly(Some(true));

    let mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ];

    let mut deny_devices = LinuxDeviceCgroup::default();
    deny_devices
        .set_allow(false)
        .set_access(Some("rwm".to_owned()));
    let mut resources = LinuxResources::default();
    resources.set_devices(Some(vec![deny_devices]));

    // The guest's cgroups are always v2, where runc adds a cgroup
    // namespace too.
    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ]
    .map(namespace);

    let mut linux = oci_spec::runtime::Linux::default();
    linux
        .set_masked_paths(Some(strings(&[
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
            "/sys/devices/virtual/tpm",
        ])))
        .set_readonly_paths(Some(strings(&[
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ])))
        .set_resources(Some(resources))
        .set_namespaces(Some(namespaces.to_vec()))
        .set_sysctl(None)
        .set_uid_mappings(None)
        .set_gid_mappings(None);

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned())
        .set_root(Some(root))
        .set_process(Some(process))
        .set_hostname(Some("runvm".to_owned()))
        .set_mounts(Some(mounts))
        .set_annotations(None)
        .set_linux(Some(linux));
    spec
}

/// runc's changes for a container started by an unprivileged user whose
/// effective ids are `uid` and `gid`: a user namespace mapping root to
/// them, /sys bound (under runvm, the VM's) instead of a new sysfs, no
/// `uid=`/`gid=` mount options and no cgroup resources. runc also drops
/// the network namespace (the container shares the host's network); a VM
/// cannot, so runvm keeps it: the container gets loopback only.
pub fn to_rootless(spec: &mut Spec, uid: u32, gid: u32) {
    // oci-spec's rootless mappings are runc's: container root to the
    // caller's ids, one id each.
    let ids = oci_spec::runtime::Linux::rootless(uid, gid);
    let (uids, gids) = (ids.uid_mappings().clone(), ids.gid_mappings().clone());
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces: Vec<LinuxNamespace> = linux
            .namespaces()
            .iter()
            .flatten()
            .filter(|ns| ns.typ() != LinuxNamespaceType::User)
            .cloned()
            .collect();
        namespaces.push(namespace(LinuxNamespaceType::User));
        linux
            .set_namespaces(Some(namespaces))
            .set_uid_mappings(uids)
            .set_gid_mappings(gids)
            .set_resources(None);
    }
    let mounts = spec.mounts().iter().flatten().map(|m| {
        if Path::new(m.destination())
            .components()
            .eq(Path::new("/sys").components())
        {
            return mount(
                "/sys",
                "none",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            );
        }
        let mut m = m.clone();
        let options: Vec<String> = m
            .options()
            .iter()
            .flatten()
            .filter(|o| !o.starts_with("gid=") && !o.starts_with("uid="))
            .cloned()
            .collect();
        m.set_options((!options.is_empty()).then_some(options));
        m
    });
    let mounts = mounts.collect();
    spec.set_mounts(Some(mounts));
}

/// Writes `spec` as `config.json` in `bundle`, tab-indented as runc does;
/// an existing one is left alone.
pub fn write(bundle: &Path, spec: &Spec) -> Result<(), SpecError> {
    let mut json = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut json, formatter);
    serde::Serialize::serialize(spec, &mut serializer).map_err(SpecError::Encode)?;
    json.push(b'\n');
    let path = bundle.join(CONFIG);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => SpecError::Exists,
            _ => SpecError::Write(path.clone(), e),
        })?;
    file.write_all(&json).map_err(|e| SpecError::Write(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::bundle;

    /// A fresh, empty bundle directory with a rootfs.
    fn bundle_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("runvm-spec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        dir
    }

    fn json(spec: &Spec) -> serde_json::Value {
        serde_json::to_value(spec).unwrap()
    }

    #[test]
    fn written_spec_loads_as_a_bundle() {
        let dir = bundle_dir("load");
        write(&dir, &example()).unwrap();
        let loaded = bundle::load(&dir, true).unwrap();
        assert_eq!(loaded.spec, example());
        assert_eq!(loaded.rootfs, dir.join("rootfs"));
        let text = std::fs::read_to_string(dir.join(CONFIG)).unwrap();
        assert!(text.starts_with("{\n\t\"ociVersion\": \"1.2.0\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn example_is_runcs_template() {
        let spec = json(&example());
        let process = &spec["process"];
        assert_eq!(process["terminal"], true);
        assert_eq!(process["args"], serde_json::json!(["sh"]));
        assert_eq!(process["env"][1], "TERM=xterm");
        assert_eq!(process["cwd"], "/");
        assert_eq!(process["noNewPrivileges"], true);
        assert_eq!(
            process["rlimits"],
            serde_json::json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );
        let caps = &process["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            let mut names: Vec<&str> = caps[set]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            names.sort();
            assert_eq!(
                names,
                ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            );
        }
        assert!(caps.get("inheritable").is_none() && caps.get("ambient").is_none());
        assert_eq!(
            spec["root"],
            serde_json::json!({"path": "rootfs", "readonly": true})
        );
        assert_eq!(spec["hostname"], "runvm");
        let destinations: Vec<&str> = spec["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            destinations,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
        let linux = &spec["linux"];
        assert_eq!(
            linux["namespaces"],
            serde_json::json!([
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ])
        );
        assert_eq!(
            linux["resources"],
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]})
        );
        assert_eq!(linux["maskedPaths"].as_array().unwrap().len(), 11);
        assert_eq!(linux["readonlyPaths"][4], "/proc/sysrq-trigger");
        assert!(linux.get("uidMappings").is_none());
    }

    #[test]
    fn rootless_maps_the_user_and_drops_what_needs_root() {
        let mut spec = example();
        to_rootless(&mut spec, 1000, 1001);
        let spec = json(&spec);
        let linux = &spec["linux"];
        assert_eq!(
            linux["namespaces"],
            serde_json::json!([
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}
            ])
        );
        assert_eq!(
            linux["uidMappings"],
            serde_json::json!([{"hostID": 1000, "containerID": 0, "size": 1}])
        );
        assert_eq!(
            linux["gidMappings"],
            serde_json::json!([{"hostID": 1001, "containerID": 0, "size": 1}])
        );
        assert!(linux.get("resources").is_none());
        let mounts = spec["mounts"].as_array().unwrap();
        assert_eq!(
            mounts[5],
            serde_json::json!({
                "destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
            })
        );
        assert!(!mounts[2]["options"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("gid=5")));
        // The rest is as in the example.
        assert_eq!(mounts.len(), 7);
        assert_eq!(mounts[0], json(&example())["mounts"][0]);
    }

    #[test]
    fn an_existing_config_is_left_alone() {
        let dir = bundle_dir("exists");
        std::fs::write(dir.join(CONFIG), "mine").unwrap();
        let err = write(&dir, &example()).unwrap_err();
        assert_eq!(err.to_string(), "File config.json exists. Remove it first");
        assert_eq!(std::fs::read_to_string(dir.join(CONFIG)).unwrap(), "mine");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_bundle_names_the_path() {
        let parent = bundle_dir("missing");
        let dir = parent.join("nope");
        let err = write(&dir, &example()).unwrap_err();
        assert!(matches!(err, SpecError::Write(ref path, _) if path == &dir.join(CONFIG)));
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
