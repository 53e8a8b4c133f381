//! The share: what the guest sees over virtio-fs. A directory in the
//! container's state directory holding the bundle's rootfs at `rootfs/`
//! and each bind-mount source at `mounts/<n>/<its name>` (so the guest's
//! mountinfo names a bind after its source, as on the host), all bind mounts made in the
//! monitor's own mount namespace, so nothing is visible to, or left
//! behind on, the host. `ro` is enforced here too: a read-only bind makes
//! the host kernel refuse writes the guest sends anyway (EROFS).

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::{Mount, Spec};
use proto::agent::{SHARE_MOUNTS, SHARE_ROOTFS};

/// Why the share could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("entering a private mount namespace")]
    Unshare(#[source] nix::Error),
    #[error("making the mount namespace private")]
    Private(#[source] nix::Error),
    #[error("creating {}", .0.display())]
    Create(PathBuf, #[source] std::io::Error),
    #[error("mount {} (destination {dest}) does not exist", .source_path.display())]
    NoSource { source_path: PathBuf, dest: PathBuf },
    #[error("bind-mounting {} onto {}", .0.display(), .1.display())]
    Bind(PathBuf, PathBuf, #[source] nix::Error),
    #[error("making {} read-only", .0.display())]
    ReadOnly(PathBuf, #[source] nix::Error),
}

/// Whether an OCI mount is a bind mount.
pub fn is_bind(mount: &Mount) -> bool {
    let options = mount.options().as_deref().unwrap_or_default();
    mount.typ().as_deref() == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind")
}

fn has_option(mount: &Mount, option: &str) -> bool {
    mount
        .options()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|o| o == option)
}

/// Moves this process into a mount namespace of its own whose mounts do
/// not propagate back to the host. Must run before any thread starts.
pub fn enter_private_mount_namespace() -> Result<(), ShareError> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(ShareError::Unshare)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(ShareError::Private)
}

fn bind(source: &Path, target: &Path, recursive: bool, readonly: bool) -> Result<(), ShareError> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), target, None::<&str>, flags, None::<&str>)
        .map_err(|e| ShareError::Bind(source.into(), target.into(), e))?;
    if readonly {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .map_err(|e| ShareError::ReadOnly(target.into(), e))?;
    }
    Ok(())
}

/// One bind mount that makes the share: source, share path, recursive,
/// read-only.
pub type Bind = (PathBuf, PathBuf, bool, bool);

/// The share layout for `spec` under `prefix` in the share at `share`
/// (empty for the VM's first container; `members/<id>` for a pod
/// member): the rewritten spec the agent gets, and the bind mounts that
/// make it.
pub fn plan(
    spec: &Spec,
    bundle_dir: &Path,
    rootfs: &Path,
    share: &Path,
    prefix: &Path,
) -> (Spec, Vec<Bind>) {
    let mut spec = spec.clone();
    let readonly_root = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    let mut binds = vec![(
        rootfs.to_path_buf(),
        share.join(prefix).join(SHARE_ROOTFS),
        true,
        readonly_root,
    )];
    if let Some(root) = spec.root_mut() {
        root.set_path(prefix.join(SHARE_ROOTFS));
    }
    if let Some(mounts) = spec.mounts_mut() {
        for (index, mount) in mounts.iter_mut().enumerate().filter(|(_, m)| is_bind(m)) {
            let Some(source) = mount.source().clone() else {
                continue;
            };
            let source = if source.is_absolute() {
                source
            } else {
                bundle_dir.join(source)
            };
            let mut in_share = prefix.join(SHARE_MOUNTS).join(index.to_string());
            if let Some(name) = source.file_name() {
                in_share.push(name);
            }
            binds.push((
                source,
                share.join(&in_share),
                has_option(mount, "rbind"),
                has_option(mount, "ro"),
            ));
            mount.set_source(Some(in_share));
        }
    }
    (spec, binds)
}

/// Builds the share at `share` in the current (private) mount namespace
/// and returns the spec the agent gets.
pub fn stage(
    spec: &Spec,
    bundle_dir: &Path,
    rootfs: &Path,
    share: &Path,
) -> Result<Spec, ShareError> {
    let (guest_spec, binds) = plan(spec, bundle_dir, rootfs, share, Path::new(""));
    std::fs::create_dir_all(share.join(SHARE_MOUNTS))
        .map_err(|e| ShareError::Create(share.into(), e))?;
    for (source, target, recursive, readonly) in binds {
        let meta = std::fs::metadata(&source).map_err(|_| ShareError::NoSource {
            source_path: source.clone(),
            dest: target.clone(),
        })?;
        let created = || {
            if meta.is_dir() {
                std::fs::create_dir_all(&target)
            } else {
                std::fs::File::create(&target).map(drop)
            }
        };
        let parent = target.parent().unwrap_or(share);
        std::fs::create_dir_all(parent)
            .and_then(|()| created())
            .map_err(|e| ShareError::Create(target.clone(), e))?;
        bind(&source, &target, recursive, readonly)?;
    }
    Ok(guest_spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs","readonly":true},
                "mounts":[
                  {"destination":"/proc","type":"proc","source":"proc"},
                  {"destination":"/data","type":"bind","source":"/srv/data","options":["rbind","ro"]},
                  {"destination":"/etc/hosts","source":"hosts","options":["bind"]}
                ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn plan_rewrites_root_and_bind_sources() {
        let (guest, binds) = plan(
            &spec(),
            Path::new("/b"),
            Path::new("/b/rootfs"),
            Path::new("/s"),
            Path::new(""),
        );
        assert_eq!(guest.root().as_ref().unwrap().path(), Path::new("rootfs"));
        let mounts = guest.mounts().as_ref().unwrap();
        assert_eq!(mounts[0].source().as_deref(), Some(Path::new("proc")));
        assert_eq!(
            mounts[1].source().as_deref(),
            Some(Path::new("mounts/1/data"))
        );
        assert_eq!(
            mounts[2].source().as_deref(),
            Some(Path::new("mounts/2/hosts"))
        );
        assert_eq!(
            binds,
            vec![
                ("/b/rootfs".into(), "/s/rootfs".into(), true, true),
                ("/srv/data".into(), "/s/mounts/1/data".into(), true, true),
                ("/b/hosts".into(), "/s/mounts/2/hosts".into(), false, false),
            ]
        );
    }

    #[test]
    fn a_pod_members_share_is_under_its_prefix() {
        let (guest, binds) = plan(
            &spec(),
            Path::new("/b"),
            Path::new("/b/rootfs"),
            Path::new("/s"),
            Path::new("members/m1"),
        );
        let root = guest.root().as_ref().unwrap();
        assert_eq!(root.path(), Path::new("members/m1/rootfs"));
        let mounts = guest.mounts().as_ref().unwrap();
        assert_eq!(
            mounts[1].source().as_deref(),
            Some(Path::new("members/m1/mounts/1/data"))
        );
        assert_eq!(binds[0].1, Path::new("/s/members/m1/rootfs"));
        assert_eq!(binds[2].1, Path::new("/s/members/m1/mounts/2/hosts"));
    }

    #[test]
    fn bind_detection() {
        let mounts = spec().mounts().clone().unwrap();
        assert_eq!(
            mounts.iter().map(is_bind).collect::<Vec<_>>(),
            [false, true, true]
        );
    }
}
