//! What is wrong with a field of config.json, and the checks every
//! section makes.

use std::path::{Component, Path, PathBuf};

use super::super::{BundleError, SUPPORTED_OCI_MAJOR};
use crate::oci::annotations::{
    KERNEL_ANNOTATION, MEMORY_ANNOTATION, NETWORK_ANNOTATION, NETWORK_NONE, VCPUS_ANNOTATION,
};

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

pub(super) fn invalid(field: impl Into<String>, problem: Problem) -> BundleError {
    BundleError::Invalid {
        field: field.into(),
        problem,
    }
}

pub(super) fn has_nul(text: impl AsRef<std::ffi::OsStr>) -> bool {
    use std::os::unix::ffi::OsStrExt;
    text.as_ref().as_bytes().contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_detection() {
        assert!(escapes(Path::new("../x")));
        assert!(escapes(Path::new("a/../../x")));
        assert!(escapes(Path::new("/../x")));
        assert!(!escapes(Path::new("a/../b")));
        assert!(!escapes(Path::new("rootfs")));
    }
}
