//! How much the guest caches of the container's share, read from its spec.
//!
//! The default is virtiofsd's `auto`: entries and attributes revalidated
//! after a second, file data dropped when a reopened file changed on the
//! host, so the host's changes (a bind-mounted volume, `docker cp`) reach
//! the container within a second. The annotation
//! [`SHARE_CACHE_ANNOTATION`] trades that for speed (`always`: cached for a
//! day, for a share only the container changes) or for coherence (`never`:
//! nothing cached). It covers the whole share: the root file system and
//! the bind mounts alike.

use oci_spec::runtime::Spec;
use virtio::fs::CacheMode;

use super::validate::problem::Problem;
use super::BundleError;
use crate::oci::annotations::SHARE_CACHE_ANNOTATION;

/// The cache mode `spec` asks for.
pub fn share_cache(spec: &Spec) -> Result<CacheMode, BundleError> {
    let value = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(SHARE_CACHE_ANNOTATION));
    match value.map(String::as_str) {
        None | Some("auto") => Ok(CacheMode::Auto),
        Some("always") => Ok(CacheMode::Always),
        Some("never") => Ok(CacheMode::Never),
        Some(other) => Err(BundleError::Invalid {
            field: format!("annotations.{SHARE_CACHE_ANNOTATION}"),
            problem: Problem::Invalid(other.to_string(), "\"auto\", \"always\" or \"never\""),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(annotations: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "annotations": annotations,
        }))
        .unwrap()
    }

    #[test]
    fn each_value_names_its_mode_and_auto_is_the_default() {
        let mode =
            |value: &str| share_cache(&spec(serde_json::json!({SHARE_CACHE_ANNOTATION: value})));
        assert_eq!(mode("auto").unwrap(), CacheMode::Auto);
        assert_eq!(mode("always").unwrap(), CacheMode::Always);
        assert_eq!(mode("never").unwrap(), CacheMode::Never);
        assert_eq!(
            share_cache(&spec(serde_json::json!({}))).unwrap(),
            CacheMode::Auto
        );
    }

    #[test]
    fn another_value_is_refused_by_name() {
        let bad = spec(serde_json::json!({SHARE_CACHE_ANNOTATION: "Always"}));
        assert_eq!(
            share_cache(&bad).unwrap_err().to_string(),
            "config.json: annotations.io.runvm.share_cache: \"Always\" is not \"auto\", \
             \"always\" or \"never\""
        );
    }
}
