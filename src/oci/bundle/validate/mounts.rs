//! `mounts`: destinations, options, types, bind sources.

use std::path::Path;

use oci_spec::runtime::Mount;

use super::problem::{escapes, has_nul, invalid, Problem};
use crate::oci::bundle::BundleError;

/// The filesystem types the guest agent mounts besides binds
/// (guest/src/agent/mounts.rs).
const FILESYSTEMS: &[&str] = &[
    "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2",
];

/// Mount options the guest agent refuses rather than ignores.
const REFUSED_OPTIONS: &[&str] = &["tmpcopyup", "idmap", "ridmap"];

pub(super) fn mount(field: &str, mount: &Mount, bundle: &Path) -> Result<(), BundleError> {
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
