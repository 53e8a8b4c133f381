//! Which network a container's VM gets, read from its spec.
//!
//! runc puts the container in the network namespace the spec names (by
//! path: podman, CNI, Kubernetes) or in a new one (docker, whose prestart
//! hook then moves a veth into it). runvm's monitor lives in that same
//! namespace, so whatever the callers put there is what the VM is wired
//! to. A spec without a network namespace asks to share the host's
//! network stack, which a VM cannot do: that is refused, unless the
//! annotation [`NETWORK_ANNOTATION`]`=none` asks for a VM without network.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::validate::problem::Problem;
use super::BundleError;
use crate::oci::annotations::{NETWORK_ANNOTATION, NETWORK_NONE};

/// The network namespace the monitor lives in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// The namespace at this path, made by the caller.
    Join(PathBuf),
    /// A new one, which the caller's hooks may fill.
    New,
}

/// What the container's VM is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub namespace: NetworkNamespace,
    /// Whether the interfaces found in the namespace become the VM's.
    pub devices: bool,
}

/// The network `spec` asks for; host networking is refused.
pub fn network(spec: &Spec) -> Result<Network, BundleError> {
    let devices = match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(NETWORK_ANNOTATION))
    {
        None => true,
        Some(value) if value == NETWORK_NONE => false,
        Some(value) => {
            return Err(BundleError::Invalid {
                field: format!("annotations.{NETWORK_ANNOTATION}"),
                problem: Problem::Invalid(value.clone(), "\"none\""),
            })
        }
    };
    let namespace = spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.namespaces().as_ref())
        .into_iter()
        .flatten()
        .find(|ns| ns.typ() == LinuxNamespaceType::Network);
    let namespace = match namespace {
        Some(ns) => match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => NetworkNamespace::Join(path.clone()),
            _ => NetworkNamespace::New,
        },
        None if devices => {
            return Err(BundleError::Invalid {
                field: "linux.namespaces".into(),
                problem: Problem::HostNetwork,
            })
        }
        None => NetworkNamespace::New,
    };
    Ok(Network { namespace, devices })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
        });
        for (key, value) in json.as_object().unwrap() {
            base[key] = value.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_path_is_joined_and_no_path_is_a_new_namespace() {
        let joined = spec(serde_json::json!({"linux": {"namespaces": [
            {"type": "network", "path": "/run/netns/cni-1"}]}}));
        assert_eq!(
            network(&joined).unwrap(),
            Network {
                namespace: NetworkNamespace::Join("/run/netns/cni-1".into()),
                devices: true
            }
        );
        let new = spec(serde_json::json!({"linux": {"namespaces": [
            {"type": "network"}, {"type": "pid"}]}}));
        assert_eq!(network(&new).unwrap().namespace, NetworkNamespace::New);
        let empty_path = spec(serde_json::json!({"linux": {"namespaces": [
            {"type": "network", "path": ""}]}}));
        assert_eq!(
            network(&empty_path).unwrap().namespace,
            NetworkNamespace::New
        );
    }

    #[test]
    fn host_networking_is_refused_in_one_sentence() {
        let host = spec(serde_json::json!({"linux": {"namespaces": [{"type": "pid"}]}}));
        assert_eq!(
            network(&host).unwrap_err().to_string(),
            "config.json: linux.namespaces: no network namespace: a VM cannot share the \
             host's network stack (give the container a network namespace, or the \
             annotation io.runvm.network=none for a VM without network)"
        );
        assert!(network(&spec(serde_json::json!({}))).is_err());
    }

    #[test]
    fn the_annotation_none_gives_a_vm_without_network() {
        let none = spec(serde_json::json!({"annotations": {"io.runvm.network": "none"}}));
        assert_eq!(
            network(&none).unwrap(),
            Network {
                namespace: NetworkNamespace::New,
                devices: false
            }
        );
        let bad = spec(serde_json::json!({"annotations": {"io.runvm.network": "host"}}));
        assert_eq!(
            network(&bad).unwrap_err().to_string(),
            "config.json: annotations.io.runvm.network: \"host\" is not \"none\""
        );
    }
}
