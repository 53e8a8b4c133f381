//! The monitor's cgroup on the host: the monitor (the VM, with all its
//! threads) joins the cgroup named by `linux.cgroupsPath` in every mounted
//! hierarchy (cgroup v2, or each v1 controller), so the host's accounting
//! and limits (kubelet's, docker's) cover the whole VM. The path is a
//! cgroupfs path, or `slice:prefix:name` with `--systemd-cgroup`, as runc
//! reads it; without one it is `/<id>` (runc's default). `delete` removes
//! the leaf directories runvm made.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Where cgroup hierarchies are found.
const MOUNTINFO: &str = "/proc/self/mountinfo";
/// How long removal waits for a cgroup's last threads to leave.
const BUSY_WAIT: Duration = Duration::from_secs(5);
/// The record of what the monitor joined, in the container's directory.
const RECORD: &str = "host-cgroup.json";

/// Why the cgroup could not be joined or named.
#[derive(Debug, thiserror::Error)]
pub enum HostCgroupError {
    #[error("linux.cgroupsPath {0:?}: with --systemd-cgroup it must be slice:prefix:name")]
    SystemdPath(String),
    #[error("linux.cgroupsPath {0:?}: {1}")]
    BadPath(String, &'static str),
    #[error("reading {MOUNTINFO}")]
    Mountinfo(#[source] std::io::Error),
    #[error("creating the cgroup {}", .0.display())]
    Create(PathBuf, #[source] std::io::Error),
    #[error("joining the cgroup {}", .0.display())]
    Join(PathBuf, #[source] std::io::Error),
}

/// `a-b-c.slice` → `a.slice/a-b.slice/a-b-c.slice`, systemd's nesting.
fn expand_slice(slice: &str) -> Result<PathBuf, &'static str> {
    let name = slice
        .strip_suffix(".slice")
        .ok_or("the slice must end in .slice")?;
    if name == "-" {
        return Ok(PathBuf::new());
    }
    if name.is_empty() || name.contains('/') || name.starts_with('-') || name.contains("--") {
        return Err("invalid slice name");
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in name.split('-') {
        if part.is_empty() {
            return Err("invalid slice name");
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

/// The path under each hierarchy's root for the container `id`.
pub fn relative_path(
    cgroups_path: Option<&str>,
    systemd: bool,
    id: &str,
) -> Result<PathBuf, HostCgroupError> {
    let bad = |why| HostCgroupError::BadPath(cgroups_path.unwrap_or_default().to_string(), why);
    let path = if systemd {
        let default = format!("system.slice:runvm:{id}");
        let text = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(&default);
        let parts: Vec<&str> = text.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(HostCgroupError::SystemdPath(text.to_string()));
        };
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let mut path = expand_slice(slice).map_err(bad)?;
        let unit = if name.ends_with(".slice") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        path.push(unit);
        path
    } else {
        PathBuf::from(
            cgroups_path
                .filter(|p| !p.is_empty())
                .map_or_else(|| format!("/{id}"), str::to_string),
        )
    };
    let mut relative = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(bad("must not contain ..")),
        }
    }
    if relative.as_os_str().is_empty() {
        return Err(bad("names the root cgroup"));
    }
    Ok(relative)
}

/// The cgroup hierarchies mounted per `mountinfo`: cgroup2 mounts and
/// cgroup v1 controller mounts.
fn hierarchies(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let fstype = fs.split_whitespace().next()?;
            let mount_point = mount.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2")
                .then(|| PathBuf::from(mount_point.replace("\\040", " ")))
        })
        .collect()
}

/// The cgroups the monitor joined, one per hierarchy.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostCgroup {
    /// The leaf directories runvm created (removed at delete).
    pub created: Vec<PathBuf>,
}

impl HostCgroup {
    /// Moves process `pid` (all its threads) into `relative` under every
    /// hierarchy mounted on this host.
    pub fn join(relative: &Path, pid: u32) -> Result<Self, HostCgroupError> {
        let mountinfo = fs::read_to_string(MOUNTINFO).map_err(HostCgroupError::Mountinfo)?;
        Self::join_in(&hierarchies(&mountinfo), relative, pid)
    }

    fn join_in(roots: &[PathBuf], relative: &Path, pid: u32) -> Result<Self, HostCgroupError> {
        let mut joined = Self::default();
        for root in roots {
            let dir = root.join(relative);
            let existed = dir.is_dir();
            if let Err(e) = fs::create_dir_all(&dir) {
                joined.remove();
                return Err(HostCgroupError::Create(dir, e));
            }
            if !existed {
                joined.created.push(dir.clone());
            }
            if let Err(e) = fs::write(dir.join("cgroup.procs"), pid.to_string()) {
                joined.remove();
                return Err(HostCgroupError::Join(dir, e));
            }
        }
        Ok(joined)
    }

    /// Records what was joined in the container's directory `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        fs::write(dir.join(RECORD), json)
    }

    /// Removes the cgroups recorded in `dir`, if any: after the monitor
    /// is gone (delete, or a failed create).
    pub fn remove_recorded(dir: &Path) {
        let Ok(json) = fs::read(dir.join(RECORD)) else {
            return;
        };
        match serde_json::from_slice::<Self>(&json) {
            Ok(joined) => joined.remove(),
            Err(e) => tracing::warn!("{} is corrupt: {e}", dir.join(RECORD).display()),
        }
    }

    /// Removes the directories runvm created, killing what is left in
    /// them first (cgroup v2's `cgroup.kill`): a host hook still running
    /// when a create was cut short belongs to the container too.
    /// A killed monitor's threads leave a moment after its main thread
    /// (a vCPU finishes its KVM_RUN first): busy cgroups are retried.
    pub fn remove(&self) {
        for dir in &self.created {
            // Absent in cgroup v1 and before Linux 5.14: nothing to kill then.
            if let Ok(mut kill) = fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.kill"))
            {
                let _ = std::io::Write::write_all(&mut kill, b"1");
            }
            let deadline = Instant::now() + BUSY_WAIT;
            loop {
                match fs::remove_dir(dir) {
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        tracing::warn!("removing the cgroup {}: {e}", dir.display());
                        break;
                    }
                    Ok(()) => break,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroupfs_paths() {
        assert_eq!(
            relative_path(None, false, "c1").unwrap(),
            PathBuf::from("c1")
        );
        assert_eq!(
            relative_path(Some("/kubepods/pod1/c1"), false, "x").unwrap(),
            PathBuf::from("kubepods/pod1/c1")
        );
        assert_eq!(
            relative_path(Some("rel/c1"), false, "x").unwrap(),
            PathBuf::from("rel/c1")
        );
        assert!(relative_path(Some("/a/../../etc"), false, "x").is_err());
        assert!(relative_path(Some("/"), false, "x").is_err());
    }

    #[test]
    fn systemd_paths_as_runc_expands_them() {
        assert_eq!(
            relative_path(Some("system.slice:docker:abc"), true, "x").unwrap(),
            PathBuf::from("system.slice/docker-abc.scope")
        );
        assert_eq!(
            relative_path(Some("kubepods-besteffort-pod1.slice:cri-containerd:abc"), true, "x")
                .unwrap(),
            PathBuf::from(
                "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope"
            )
        );
        assert_eq!(
            relative_path(None, true, "c1").unwrap(),
            PathBuf::from("system.slice/runvm-c1.scope")
        );
        assert_eq!(
            relative_path(Some(":runvm:c1"), true, "x").unwrap(),
            PathBuf::from("system.slice/runvm-c1.scope")
        );
        let err = relative_path(Some("/a/b"), true, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.cgroupsPath \"/a/b\": with --systemd-cgroup it must be slice:prefix:name"
        );
        assert!(relative_path(Some("bad-.slice:p:n"), true, "x").is_err());
    }

    #[test]
    fn hierarchies_come_from_mountinfo() {
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            50 23 0:40 / /proc rw - proc proc rw\n";
        assert_eq!(
            hierarchies(mountinfo),
            [
                PathBuf::from("/sys/fs/cgroup/cpu"),
                PathBuf::from("/sys/fs/cgroup/unified")
            ]
        );
    }

    #[test]
    fn join_writes_the_pid_and_remove_takes_only_what_was_made() {
        let base = std::env::temp_dir().join(format!("runvm-hostcg-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (v2, cpu) = (base.join("unified"), base.join("cpu"));
        fs::create_dir_all(cpu.join("pod")).unwrap();
        fs::create_dir_all(&v2).unwrap();
        let joined =
            HostCgroup::join_in(&[v2.clone(), cpu.clone()], Path::new("pod/c1"), 42).unwrap();
        assert_eq!(
            fs::read_to_string(v2.join("pod/c1/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(
            fs::read_to_string(cpu.join("pod/c1/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(joined.created, [v2.join("pod/c1"), cpu.join("pod/c1")]);
        // A real cgroup directory holds only kernel files; these hold a
        // plain file, so removal fails and is only warned about.
        joined.remove();
        assert!(v2.join("pod/c1").exists());
        for dir in &joined.created {
            fs::remove_file(dir.join("cgroup.procs")).unwrap();
        }
        joined.remove();
        assert!(!v2.join("pod/c1").exists() && v2.join("pod").exists());
        let missing = HostCgroup::join_in(&[base.join("nope/\0")], Path::new("c"), 1);
        assert!(missing.is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
