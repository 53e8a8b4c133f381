//! `annotations`: the `io.runvm.*` ones.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::one_line;
use super::problem::{has_nul, invalid, Problem};
use crate::oci::annotations::{
    KERNEL_ANNOTATION, MEMORY_ANNOTATION, NETWORK_ANNOTATION, SHARE_CACHE_ANNOTATION,
    VCPUS_ANNOTATION,
};
use crate::oci::bundle::BundleError;

/// `io.runvm.*` annotations: only the known ones; the kernel a host file.
/// (The sizing ones are checked by [`crate::oci::sizing::vm_size`], the
/// network and share cache ones where they are read.)
pub(super) fn annotations(spec: &Spec) -> Result<(), BundleError> {
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
            SHARE_CACHE_ANNOTATION,
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
