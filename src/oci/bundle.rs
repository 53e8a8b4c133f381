//! An OCI bundle: `config.json` and the root filesystem it names,
//! checked (see [`validate`]) before anything is created.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::oci::sizing::SizingError;

pub mod namespaces;
pub mod network;
pub mod share_cache;
pub mod validate;

/// The spec versions runvm understands.
pub const SUPPORTED_OCI_MAJOR: &str = "1";

/// What is wrong with a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle {} does not exist", .0.display())]
    NoBundle(PathBuf),
    #[error("open {}: no such file or directory", .0.display())]
    NoConfig(PathBuf),
    #[error("reading {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    /// Not JSON, or not the spec's types: serde's message, led by the
    /// JSON path where it has one.
    #[error("config.json: {0}")]
    Json(String),
    #[error("config.json: {field}: {problem}")]
    Invalid {
        /// The JSON path: `process.user.uid`, `mounts[2].source`.
        field: String,
        problem: validate::problem::Problem,
    },
    /// A namespace path runvm cannot join (see [`namespaces`]).
    #[error("config.json: {field}")]
    NamespacePath {
        field: String,
        #[source]
        problem: namespaces::PathProblem,
    },
    #[error("config.json: process is missing")]
    NoProcess,
    #[error("config.json: {0}")]
    Sizing(#[from] SizingError),
}

/// A parsed and checked bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    pub spec: Spec,
    /// The root filesystem, absolute.
    pub rootfs: PathBuf,
}

/// Loads and checks the bundle at `dir`; `needs_process` for verbs that
/// start one (create, run).
pub fn load(dir: &Path, needs_process: bool) -> Result<Bundle, BundleError> {
    let dir = std::path::absolute(dir).map_err(|e| BundleError::Read(dir.into(), e))?;
    if !dir.is_dir() {
        return Err(BundleError::NoBundle(dir));
    }
    let config = dir.join("config.json");
    let bytes = match std::fs::read(&config) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::NoConfig(config))
        }
        Err(e) => return Err(BundleError::Read(config, e)),
    };
    let spec = validate::parse(&bytes)?;
    let rootfs = validate::check(&spec, &dir, needs_process)?;
    Ok(Bundle { dir, spec, rootfs })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid config.json with `args`.
    pub fn config(args: &str) -> String {
        format!(
            r#"{{"ociVersion":"1.0.2","process":{{"args":{args},"cwd":"/","user":{{"uid":0,"gid":0}}}},"root":{{"path":"rootfs"}},"linux":{{"namespaces":[{{"type":"network"}}]}}}}"#
        )
    }

    /// A bundle directory with `config` and an empty rootfs.
    fn bundle_with(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    fn error(config: &str) -> String {
        let dir = bundle_with(config);
        load(dir.path(), true).unwrap_err().to_string()
    }

    #[test]
    fn valid_bundle_loads() {
        let tmp = bundle_with(&config(r#"["sh"]"#));
        let dir = tmp.path();
        let bundle = load(dir, true).unwrap();
        assert_eq!(bundle.rootfs, dir.join("rootfs"));
    }

    #[test]
    fn bad_bundles_name_what_is_wrong() {
        assert_eq!(
            error("{not json"),
            "config.json: key must be a string at line 1 column 2"
        );
        assert_eq!(
            error(r#"{"ociVersion":1}"#),
            "config.json: ociVersion: invalid type: integer `1`, expected a string at line 1 column 15"
        );
        let v2 = config(r#"["sh"]"#).replace("1.0.2", "2.0.0");
        assert_eq!(
            error(&v2),
            "config.json: ociVersion: \"2.0.0\" is not supported: runvm supports 1.x"
        );
        assert_eq!(
            error(&config("[]")),
            "config.json: process.args: must not be empty"
        );
        let cwd = config(r#"["sh"]"#).replace(r#""cwd":"/""#, r#""cwd":"tmp""#);
        assert!(error(&cwd).contains("process.cwd: \"tmp\""));
        let outside = config(r#"["sh"]"#).replace(r#""path":"rootfs""#, r#""path":"../../etc""#);
        assert!(error(&outside).contains("leaves the bundle"));
        let missing = config(r#"["sh"]"#).replace(r#""path":"rootfs""#, r#""path":"nope""#);
        assert!(error(&missing).contains("does not exist"));
        let no_process = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#;
        assert_eq!(error(no_process), "config.json: process is missing");
    }

    #[test]
    fn missing_config_reads_like_runc() {
        let tmp = bundle_with("");
        let dir = tmp.path();
        std::fs::remove_file(dir.join("config.json")).unwrap();
        let err = load(dir, true).unwrap_err().to_string();
        assert!(
            err.starts_with("open ") && err.ends_with("config.json: no such file or directory")
        );
    }
}
