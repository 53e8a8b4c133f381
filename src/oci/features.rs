//! What this runtime supports, as the OCI runtime-spec "features"
//! document (`runvm features`). Every list says what runvm really does:
//! the mount options and capabilities are the guest agent's
//! (`proto::features`).

use std::collections::HashMap;

use oci_spec::runtime::{
    Apparmor, Arch, Cgroup, Features, IDMap, IntelRdt, LinuxFeature, LinuxNamespaceType,
    LinuxSeccompAction, MountExtensions, NetDevices, Seccomp, Selinux,
};
use proto::features::{mount_options, CAPABILITIES};
use serde_json::Value;

use crate::oci::annotations::{
    KERNEL_ANNOTATION, MEMORY_ANNOTATION, NETWORK_ANNOTATION, SHARE_CACHE_ANNOTATION,
    VCPUS_ANNOTATION,
};
use crate::oci::OCI_VERSION;

/// The oldest spec version runvm reads.
pub const OCI_VERSION_MIN: &str = "1.0.0";

/// The namespace types a config may ask for. The VM isolates the
/// container from the host and from other containers whichever it asks
/// for; inside the guest each one listed is a new namespace (the network
/// one is the VM's).
/// The hooks runvm runs (see `crate::monitor::hooks`).
const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

const NAMESPACES: &[LinuxNamespaceType] = &[
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Mount,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::User,
    LinuxNamespaceType::Uts,
];

/// The features document of this build.
pub fn features() -> Features {
    let mut cgroup = Cgroup::default();
    cgroup
        .set_v1(Some(false))
        .set_v2(Some(true))
        .set_systemd(Some(false))
        .set_systemd_user(Some(false))
        .set_rdma(Some(false));
    let mut seccomp = Seccomp::default();
    // The guest agent's (guest/src/agent/seccomp.rs): all but NOTIFY,
    // which needs a listener; the guest is x86_64.
    let seccomp_flags: Vec<String> = [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_LOG",
    ]
    .map(String::from)
    .to_vec();
    seccomp
        .set_enabled(Some(true))
        .set_actions(Some(vec![
            LinuxSeccompAction::ScmpActAllow,
            LinuxSeccompAction::ScmpActErrno,
            LinuxSeccompAction::ScmpActKill,
            LinuxSeccompAction::ScmpActKillProcess,
            LinuxSeccompAction::ScmpActKillThread,
            LinuxSeccompAction::ScmpActLog,
            LinuxSeccompAction::ScmpActTrace,
            LinuxSeccompAction::ScmpActTrap,
        ]))
        .set_operators(Some(
            [
                "SCMP_CMP_EQ",
                "SCMP_CMP_GE",
                "SCMP_CMP_GT",
                "SCMP_CMP_LE",
                "SCMP_CMP_LT",
                "SCMP_CMP_MASKED_EQ",
                "SCMP_CMP_NE",
            ]
            .map(String::from)
            .to_vec(),
        ))
        .set_archs(Some(vec![Arch::ScmpArchX86_64]))
        .set_known_flags(Some(seccomp_flags.clone()))
        .set_supported_flags(Some(seccomp_flags));
    let mut apparmor = Apparmor::default();
    apparmor.set_enabled(Some(false));
    let mut selinux = Selinux::default();
    selinux.set_enabled(Some(false));
    let mut intel_rdt = IntelRdt::default();
    intel_rdt.set_enabled(Some(false));
    let mut idmap = IDMap::default();
    idmap.set_enabled(Some(false));
    let mut mount_extensions = MountExtensions::default();
    mount_extensions.set_idmap(Some(idmap));
    let mut net_devices = NetDevices::default();
    net_devices.set_enabled(Some(false));

    let mut linux = LinuxFeature::default();
    linux
        .set_namespaces(Some(NAMESPACES.to_vec()))
        .set_capabilities(Some(
            CAPABILITIES
                .iter()
                .map(|cap| format!("CAP_{cap}"))
                .collect(),
        ))
        .set_cgroup(Some(cgroup))
        .set_seccomp(Some(seccomp))
        .set_apparmor(Some(apparmor))
        .set_selinux(Some(selinux))
        .set_intel_rdt(Some(intel_rdt))
        .set_mount_extensions(Some(mount_extensions))
        .set_net_devices(Some(net_devices));

    let annotations: HashMap<String, String> = [
        ("io.runvm.version", env!("CARGO_PKG_VERSION")),
        ("io.runvm.commit", env!("RUNVM_COMMIT")),
        ("io.runvm.vm", "kvm"),
        ("io.runvm.vm.devices", "virtio-mmio: vsock, fs, rng, net"),
        (
            "io.runvm.namespaces",
            "the VM isolates the container; inside it each namespace listed is a new one, but the network namespace is the VM's",
        ),
        (
            "io.runvm.hooks",
            "createContainer and startContainer run in the guest, paths resolved in the container",
        ),
        (
            "io.runvm.seccomp",
            "applied in the guest to the container's processes (x86_64 calls; not SCMP_ACT_NOTIFY)",
        ),
        (
            "io.runvm.config.annotations",
            &*format!("{MEMORY_ANNOTATION},{VCPUS_ANNOTATION},{KERNEL_ANNOTATION},{NETWORK_ANNOTATION},{SHARE_CACHE_ANNOTATION}"),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();

    let mut features = Features::default();
    features
        .set_oci_version_min(OCI_VERSION_MIN.to_owned())
        .set_oci_version_max(OCI_VERSION.to_owned())
        .set_hooks(Some(HOOKS.iter().map(|h| h.to_string()).collect()))
        .set_mount_options(Some(mount_options().map(str::to_string).collect()))
        .set_linux(Some(linux))
        .set_annotations(Some(annotations))
        // `io.runvm.kernel` names a host file to boot, and the others size
        // the VM: a caller passing untrusted annotations must filter them.
        .set_potentially_unsafe_config_annotations(Some(vec!["io.runvm.".to_owned()]));
    features
}

/// The document as `runc features` prints it: indented JSON without the
/// fields left unknown (oci-spec writes those as `null`), keys sorted.
pub fn to_json(features: &Features) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(features)?;
    drop_nulls(&mut value);
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&value, &mut serializer)?;
    // serde_json writes UTF-8: nothing is replaced.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Removes the `null` members of every object in `value`.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, member| !member.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json() -> Value {
        serde_json::from_str(&to_json(&features()).unwrap()).unwrap()
    }

    #[test]
    fn versions_and_hooks() {
        let json = json();
        assert_eq!(json["ociVersionMin"], "1.0.0");
        assert_eq!(json["ociVersionMax"], OCI_VERSION);
        assert_eq!(
            json["hooks"],
            serde_json::json!([
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ])
        );
        assert_eq!(
            json["potentiallyUnsafeConfigAnnotations"],
            serde_json::json!(["io.runvm."])
        );
    }

    #[test]
    fn linux_section_says_what_is_applied() {
        let json = json();
        let linux = &json["linux"];
        assert_eq!(
            linux["namespaces"],
            serde_json::json!(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"])
        );
        assert_eq!(
            linux["cgroup"],
            serde_json::json!({"v1": false, "v2": true, "systemd": false, "systemdUser": false, "rdma": false})
        );
        assert_eq!(linux["seccomp"]["enabled"], true);
        assert_eq!(
            linux["seccomp"]["archs"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
        let actions = linux["seccomp"]["actions"].as_array().unwrap();
        assert!(actions.contains(&serde_json::json!("SCMP_ACT_ERRNO")));
        assert!(!actions.contains(&serde_json::json!("SCMP_ACT_NOTIFY")));
        assert_eq!(linux["apparmor"], serde_json::json!({"enabled": false}));
        assert_eq!(linux["selinux"], serde_json::json!({"enabled": false}));
        assert_eq!(
            linux["mountExtensions"],
            serde_json::json!({"idmap": {"enabled": false}})
        );
        let caps = linux["capabilities"].as_array().unwrap();
        assert_eq!(caps.len(), 41);
        assert_eq!(caps[0], "CAP_CHOWN");
        assert_eq!(caps[40], "CAP_CHECKPOINT_RESTORE");
        assert_eq!(json["annotations"]["io.runvm.vm"], "kvm");
        assert!(!to_json(&features()).unwrap().contains("null"));
    }

    #[test]
    fn capability_names_are_the_specs() {
        for cap in CAPABILITIES {
            assert_eq!(
                serde_json::to_value(cap).unwrap(),
                Value::String(format!("CAP_{cap}"))
            );
        }
    }

    #[test]
    fn nulls_are_dropped_everywhere() {
        let mut value =
            serde_json::json!({"a": null, "b": [{"c": null, "d": 1}], "e": {"f": null}});
        drop_nulls(&mut value);
        assert_eq!(value, serde_json::json!({"b": [{"d": 1}], "e": {}}));
    }
}
