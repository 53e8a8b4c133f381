//! The monitor's cgroup on the host: the monitor (the VM, with all its
//! threads) joins the cgroup named by `linux.cgroupsPath` in every mounted
//! hierarchy (cgroup v2, or each v1 controller), so the host's accounting
//! and limits (kubelet's, docker's) cover the whole VM. The path is a
//! cgroupfs path, or `slice:prefix:name` with `--systemd-cgroup`, as runc
//! reads it; without one it is `/<id>` (runc's default). On cgroup v1 a
//! new cpuset gets its parent's CPUs and memory nodes (runc's rule), and
//! the spec's host pinning (`linux.resources.cpu.cpus`, `.mems`) goes into
//! the cpuset where the host has one. `delete` removes every directory
//! runvm made.

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
    #[error("writing {1:?} to {path}", path = .0.display())]
    Pin(PathBuf, String, #[source] std::io::Error),
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

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// Where it is mounted.
    mount_point: PathBuf,
    /// The cgroup of the hierarchy the mount shows at its mount point.
    mount_root: PathBuf,
    /// cgroup v1: its controllers and name (`cpu`, `name=systemd`, ...) as
    /// its mount options list them; none for cgroup v2.
    v1_options: Option<Vec<String>>,
}

impl Hierarchy {
    /// Whether a new cgroup of this hierarchy starts with no CPUs and
    /// memory nodes (cgroup v1's cpuset), which nothing can join.
    fn is_v1_cpuset(&self) -> bool {
        self.v1_options
            .as_ref()
            .is_some_and(|options| options.iter().any(|o| o == "cpuset"))
    }

    /// The directory of the cgroup `line` of `/proc/PID/cgroup` names,
    /// if that line is this hierarchy's and the mount shows that cgroup.
    fn dir_of(&self, line: &str) -> Option<PathBuf> {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let matches = match &self.v1_options {
            None => id == "0" && controllers.is_empty(),
            Some(options) => {
                !controllers.is_empty()
                    && controllers
                        .split(',')
                        .all(|c| options.iter().any(|o| o == c))
            }
        };
        let below = Path::new(path).strip_prefix(&self.mount_root).ok()?;
        matches.then(|| self.mount_point.join(below))
    }
}

/// The cgroup hierarchies mounted per `mountinfo`: cgroup2 mounts and
/// cgroup v1 controller mounts.
fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let unescape = |field: &str| PathBuf::from(field.replace("\\040", " "));
    mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            let mut fs = fs.split_whitespace();
            let fstype = fs.next()?;
            let super_options = fs.nth(1).unwrap_or_default();
            let mut mount = mount.split_whitespace();
            let mount_root = unescape(mount.nth(3)?);
            let mount_point = unescape(mount.next()?);
            let v1_options = match fstype {
                "cgroup2" => None,
                "cgroup" => Some(super_options.split(',').map(str::to_string).collect()),
                _ => return None,
            };
            Some(Hierarchy {
                mount_point,
                mount_root,
                v1_options,
            })
        })
        .collect()
}

/// Host CPU and memory-node pinning for the monitor's cgroup
/// (`linux.resources.cpu.cpus` and `.mems`): the VM's vCPUs run there.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pinning {
    pub cpus: Option<String>,
    pub mems: Option<String>,
}

/// The cgroups the monitor joined, one per hierarchy.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HostCgroup {
    /// The leaf directories runvm created (removed at delete).
    pub created: Vec<PathBuf>,
    /// The directories above them that runvm created, deepest first
    /// (removed at delete unless another cgroup is in them by then).
    #[serde(default)]
    pub parents: Vec<PathBuf>,
}

impl HostCgroup {
    /// Moves process `pid` (all its threads) into `relative` under every
    /// hierarchy mounted on this host, pinned as `pinning` says where the
    /// host has a cpuset.
    pub fn join(relative: &Path, pid: u32, pinning: &Pinning) -> Result<Self, HostCgroupError> {
        let mountinfo = fs::read_to_string(MOUNTINFO).map_err(HostCgroupError::Mountinfo)?;
        // Where the process is now, to go back to if a join fails.
        let current = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        Self::join_in(&hierarchies(&mountinfo), &current, relative, pid, pinning)
    }

    fn join_in(
        hierarchies: &[Hierarchy],
        current: &str,
        relative: &Path,
        pid: u32,
        pinning: &Pinning,
    ) -> Result<Self, HostCgroupError> {
        let mut joined = Self::default();
        let made = hierarchies
            .iter()
            .try_for_each(|h| joined.make(h, relative, pinning));
        if let Err(e) = made {
            joined.remove_dirs();
            return Err(e);
        }
        for (index, hierarchy) in hierarchies.iter().enumerate() {
            let dir = hierarchy.mount_point.join(relative);
            if let Err(e) = fs::write(dir.join("cgroup.procs"), pid.to_string()) {
                // Back where it was, so that the directories can go.
                for hierarchy in &hierarchies[..index] {
                    let back = current.lines().find_map(|line| hierarchy.dir_of(line));
                    if let Some(back) = back {
                        let _ = fs::write(back.join("cgroup.procs"), pid.to_string());
                    }
                }
                joined.remove_dirs();
                return Err(HostCgroupError::Join(dir, e));
            }
        }
        Ok(joined)
    }

    /// Makes `relative` in `hierarchy`, one level at a time, recording
    /// what it made. A new cgroup v1 cpuset gets its parent's CPUs and
    /// memory nodes (it has none, and nothing could join it), as runc
    /// does; the leaf gets `pinning` instead where it sets them.
    fn make(
        &mut self,
        hierarchy: &Hierarchy,
        relative: &Path,
        pinning: &Pinning,
    ) -> Result<(), HostCgroupError> {
        let leaf = hierarchy.mount_point.join(relative);
        let mut dir = hierarchy.mount_point.clone();
        for part in relative.iter() {
            let parent = dir.clone();
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) if dir == leaf => self.created.push(dir.clone()),
                Ok(()) => self.parents.insert(0, dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(HostCgroupError::Create(dir, e)),
            }
            if hierarchy.is_v1_cpuset() {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    copy_if_empty(&parent.join(file), &dir.join(file))
                        .map_err(|e| HostCgroupError::Create(dir.clone(), e))?;
                }
            }
        }
        for (file, value) in [
            ("cpuset.cpus", &pinning.cpus),
            ("cpuset.mems", &pinning.mems),
        ] {
            let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            // cgroup v2 without the cpuset controller delegated has no
            // such file: the host does not pin there.
            if leaf.join(file).exists() {
                fs::write(leaf.join(file), value)
                    .map_err(|e| HostCgroupError::Pin(leaf.join(file), value.to_string(), e))?;
            }
        }
        Ok(())
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
    /// them first: a host hook still running when a create was cut short
    /// belongs to the container too.
    pub fn remove(&self) {
        for dir in &self.created {
            kill_all_in(dir);
        }
        self.remove_dirs();
    }

    /// Removes the directories runvm created. A killed monitor's threads
    /// leave a moment after its main thread (a vCPU finishes its KVM_RUN
    /// first): busy leaves are retried. A parent still holding another
    /// container's cgroup stays.
    fn remove_dirs(&self) {
        for dir in &self.created {
            let deadline = Instant::now() + BUSY_WAIT;
            loop {
                match fs::remove_dir(dir) {
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => {
                        tracing::warn!("removing the cgroup {}: {e}", dir.display());
                        break;
                    }
                    Ok(()) => break,
                }
            }
        }
        for dir in &self.parents {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// Writes the contents of `from` into `to` if `to` is empty.
fn copy_if_empty(from: &Path, to: &Path) -> std::io::Result<()> {
    if fs::read_to_string(to)?.trim().is_empty() {
        fs::write(to, fs::read_to_string(from)?.trim())?;
    }
    Ok(())
}

/// Kills every process in the cgroup `dir`: at once with cgroup v2's
/// `cgroup.kill` (Linux 5.14), else one by one from `cgroup.procs`.
fn kill_all_in(dir: &Path) {
    if let Ok(mut kill) = fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.kill"))
    {
        let _ = std::io::Write::write_all(&mut kill, b"1");
        return;
    }
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|line| line.trim().parse().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
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

    fn v2(mount_point: &Path) -> Hierarchy {
        Hierarchy {
            mount_point: mount_point.into(),
            mount_root: "/".into(),
            v1_options: None,
        }
    }

    fn v1(mount_point: &Path, options: &[&str]) -> Hierarchy {
        Hierarchy {
            mount_point: mount_point.into(),
            mount_root: "/".into(),
            v1_options: Some(options.iter().map(|o| o.to_string()).collect()),
        }
    }

    #[test]
    fn hierarchies_come_from_mountinfo() {
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
            33 31 0:30 /docker/abc /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
            50 23 0:40 / /proc rw - proc proc rw\n";
        let found = hierarchies(mountinfo);
        let mut cpuset = v1(Path::new("/sys/fs/cgroup/cpuset"), &["rw", "cpuset"]);
        cpuset.mount_root = "/docker/abc".into();
        assert_eq!(
            found,
            [
                v1(
                    Path::new("/sys/fs/cgroup/cpu,cpuacct"),
                    &["rw", "cpu", "cpuacct"]
                ),
                cpuset,
                v2(Path::new("/sys/fs/cgroup/unified")),
            ]
        );
        assert!(!found[0].is_v1_cpuset() && found[1].is_v1_cpuset());
        assert!(!found[2].is_v1_cpuset());
    }

    #[test]
    fn a_process_cgroup_is_found_in_its_hierarchy() {
        let cpu = v1(
            Path::new("/sys/fs/cgroup/cpu,cpuacct"),
            &["rw", "cpu", "cpuacct"],
        );
        let mut cpuset = v1(Path::new("/sys/fs/cgroup/cpuset"), &["rw", "cpuset"]);
        cpuset.mount_root = "/docker".into();
        let unified = v2(Path::new("/sys/fs/cgroup/unified"));
        let lines = "5:cpu,cpuacct:/user.slice\n3:cpuset:/docker/c1\n1:name=systemd:/x\n0::/u\n";
        let find = |h: &Hierarchy| lines.lines().find_map(|line| h.dir_of(line));
        assert_eq!(
            find(&cpu),
            Some("/sys/fs/cgroup/cpu,cpuacct/user.slice".into())
        );
        assert_eq!(find(&cpuset), Some("/sys/fs/cgroup/cpuset/c1".into()));
        assert_eq!(find(&unified), Some("/sys/fs/cgroup/unified/u".into()));
        assert_eq!(cpuset.dir_of("3:cpuset:/elsewhere"), None);
    }

    #[test]
    fn join_writes_the_pid_and_remove_takes_only_what_was_made() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let (unified, cpu) = (base.join("unified"), base.join("cpu"));
        fs::create_dir_all(cpu.join("pod")).unwrap();
        fs::create_dir_all(&unified).unwrap();
        let roots = [v2(&unified), v1(&cpu, &["cpu"])];
        let joined =
            HostCgroup::join_in(&roots, "", Path::new("pod/c1"), 42, &Pinning::default()).unwrap();
        assert_eq!(
            fs::read_to_string(unified.join("pod/c1/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(
            fs::read_to_string(cpu.join("pod/c1/cgroup.procs")).unwrap(),
            "42"
        );
        assert_eq!(joined.created, [unified.join("pod/c1"), cpu.join("pod/c1")]);
        assert_eq!(joined.parents, [unified.join("pod")]);
        // A real cgroup directory holds only kernel files; these hold a
        // plain file, so removal fails and is only warned about.
        joined.remove_dirs();
        assert!(unified.join("pod/c1").exists());
        for dir in &joined.created {
            fs::remove_file(dir.join("cgroup.procs")).unwrap();
        }
        joined.remove_dirs();
        assert!(!unified.join("pod").exists() && cpu.join("pod").exists());
        let missing = HostCgroup::join_in(
            &[v2(&base.join("nope/\0"))],
            "",
            Path::new("c"),
            1,
            &Pinning::default(),
        );
        assert!(missing.is_err());
    }

    #[test]
    fn a_new_v1_cpuset_gets_its_parents_cpus_and_the_leaf_the_pinning() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let cpuset = base.join("cpuset");
        fs::create_dir_all(&cpuset).unwrap();
        fs::write(cpuset.join("cpuset.cpus"), "0-3\n").unwrap();
        fs::write(cpuset.join("cpuset.mems"), "0\n").unwrap();
        // What the kernel shows in each new cpuset: empty files.
        for dir in ["kube", "kube/c1"] {
            fs::create_dir_all(cpuset.join(dir)).unwrap();
            for file in ["cpuset.cpus", "cpuset.mems"] {
                fs::write(cpuset.join(dir).join(file), "").unwrap();
            }
        }
        fs::write(cpuset.join("kube/cpuset.cpus"), "1-2").unwrap();
        let pinning = Pinning {
            cpus: Some("2".into()),
            mems: None,
        };
        let mut joined = HostCgroup::default();
        joined
            .make(&v1(&cpuset, &["cpuset"]), Path::new("kube/c1"), &pinning)
            .unwrap();
        let read = |file: &str| fs::read_to_string(cpuset.join(file)).unwrap();
        assert_eq!(read("kube/cpuset.cpus"), "1-2", "a set value stays");
        assert_eq!(read("kube/cpuset.mems"), "0");
        assert_eq!(read("kube/c1/cpuset.cpus"), "2");
        assert_eq!(read("kube/c1/cpuset.mems"), "0");
    }

    #[test]
    fn what_is_left_in_a_v1_cgroup_is_killed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        fs::write(base.join("cgroup.procs"), format!("{}\n", child.id())).unwrap();
        kill_all_in(base);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
