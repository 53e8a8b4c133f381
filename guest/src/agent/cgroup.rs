//! The container's cgroup (v2; init mounts the hierarchy at
//! [`CGROUP_MOUNT`]): created with the spec's `linux.resources`, joined by
//! every container process before it execs, read for `Stats`, rewritten by
//! `Update`. The VM is the container's, so the cgroup limits the container
//! inside the VM's own size.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxResources;
use proto::stats::{Cpu, CpuUsage, Memory, MemoryUsage, Pids, Stats, Throttling};

use super::describe;

/// Where init mounts the cgroup v2 hierarchy.
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";
/// The first container's cgroup under it.
pub const CONTAINER_CGROUP: &str = "container";
/// How long removing a member's cgroup waits for its killed processes.
const KILL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// The controllers the container's cgroup gets, where the kernel has them.
const CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

/// Why the cgroup could not be set up, changed or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the container cgroup {}: {}", .path.display(), describe(*.errno))]
    Create { path: PathBuf, errno: Errno },
    #[error("removing the cgroup {}: {}", .path.display(), describe(*.errno))]
    Remove { path: PathBuf, errno: Errno },
    #[error("linux.resources.{field}: writing {file}: {}", describe(*.errno))]
    Write {
        field: &'static str,
        file: &'static str,
        errno: Errno,
    },
    #[error("linux.resources.{0}: {1}")]
    Invalid(&'static str, String),
    #[error("reading the cgroup's {file}: {}", describe(*.errno))]
    Read { file: &'static str, errno: Errno },
    #[error("the cgroup's {0} is malformed")]
    Malformed(&'static str),
}

/// One file write that applies part of `linux.resources`.
#[derive(Debug, PartialEq, Eq)]
struct Write {
    field: &'static str,
    file: &'static str,
    value: String,
}

/// The container's cgroup.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// cgroup.procs, open for writing: a child writes "0" to join.
    procs: OwnedFd,
}

fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

impl Cgroup {
    /// Creates the container's cgroup `name` under the hierarchy at `root`,
    /// with the controllers delegated to it, and applies `resources`.
    pub fn create(
        root: &Path,
        name: &str,
        resources: Option<&LinuxResources>,
    ) -> Result<Self, Error> {
        let create = |path: &Path, error: &std::io::Error| Error::Create {
            path: path.to_path_buf(),
            errno: errno_of(error),
        };
        let available =
            fs::read_to_string(root.join("cgroup.controllers")).map_err(|e| create(root, &e))?;
        let subtree = root.join("cgroup.subtree_control");
        for controller in CONTROLLERS {
            if available.split_whitespace().any(|c| c == controller) {
                fs::write(&subtree, format!("+{controller}")).map_err(|e| create(&subtree, &e))?;
            }
        }
        let dir = root.join(name);
        match fs::create_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(create(&dir, &e))
            }
            _ => {}
        }
        let procs_path = dir.join("cgroup.procs");
        let procs = nix::fcntl::open(
            &procs_path,
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|errno| Error::Create {
            path: procs_path,
            errno,
        })?;
        // SAFETY: `open` just returned this descriptor; nothing else owns it.
        let procs = unsafe { std::os::fd::FromRawFd::from_raw_fd(procs) };
        let cgroup = Self { dir, procs };
        if let Some(resources) = resources {
            cgroup.update(resources)?;
        }
        Ok(cgroup)
    }

    /// Kills every process in the cgroup (`cgroup.kill`), waits a while
    /// for them to go, and removes it.
    pub fn remove(&self) -> Result<(), Error> {
        let kill = fs::write(self.dir.join("cgroup.kill"), "1");
        let deadline = std::time::Instant::now() + KILL_WAIT;
        loop {
            match fs::remove_dir(&self.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                // Processes not gone yet.
                Err(e)
                    if errno_of(&e) == Errno::EBUSY
                        && kill.is_ok()
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(Error::Remove {
                        path: self.dir.clone(),
                        errno: errno_of(&e),
                    })
                }
            }
        }
    }

    /// The descriptor a child writes "0" to in order to join.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Applies `resources`; fields left out keep their values.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), Error> {
        for write in writes(resources)? {
            fs::write(self.dir.join(write.file), &write.value).map_err(|e| Error::Write {
                field: write.field,
                file: write.file,
                errno: errno_of(&e),
            })?;
        }
        Ok(())
    }

    fn read(&self, file: &'static str) -> Result<String, Error> {
        fs::read_to_string(self.dir.join(file)).map_err(|e| Error::Read {
            file,
            errno: errno_of(&e),
        })
    }

    /// The resource usage now.
    pub fn stats(&self) -> Result<Stats, Error> {
        let cpu_stat = keyed(&self.read("cpu.stat")?, "cpu.stat")?;
        let usec = |key: &str| cpu_stat.get(key).copied().unwrap_or(0).saturating_mul(1000);
        let memory_stat = keyed(&self.read("memory.stat")?, "memory.stat")?;
        let events = keyed(&self.read("memory.events")?, "memory.events")?;
        // memory.peak is newer than the other files; absent, usage stands in.
        let usage = number(&self.read("memory.current")?, "memory.current")?;
        let peak = match self.read("memory.peak") {
            Ok(text) => number(&text, "memory.peak")?,
            Err(_) => usage,
        };
        Ok(Stats {
            cpu: Cpu {
                usage: CpuUsage {
                    total: usec("usage_usec"),
                    kernel: usec("system_usec"),
                    user: usec("user_usec"),
                },
                throttling: Throttling {
                    periods: cpu_stat.get("nr_periods").copied().unwrap_or(0),
                    throttled_periods: cpu_stat.get("nr_throttled").copied().unwrap_or(0),
                    throttled_time: usec("throttled_usec"),
                },
            },
            memory: Memory {
                cache: memory_stat.get("file").copied().unwrap_or(0),
                usage: MemoryUsage {
                    limit: limit(&self.read("memory.max")?, "memory.max", u64::MAX)?,
                    usage,
                    max: peak,
                    failcnt: events.get("max").copied().unwrap_or(0),
                },
                raw: memory_stat,
            },
            pids: Pids {
                current: number(&self.read("pids.current")?, "pids.current")?,
                limit: limit(&self.read("pids.max")?, "pids.max", 0)?,
            },
        })
    }
}

/// `key value` lines, as in cpu.stat and memory.stat.
fn keyed(text: &str, file: &'static str) -> Result<std::collections::BTreeMap<String, u64>, Error> {
    text.lines()
        .map(|line| {
            let (key, value) = line.split_once(' ').ok_or(Error::Malformed(file))?;
            let value = value.trim().parse().map_err(|_| Error::Malformed(file))?;
            Ok((key.to_string(), value))
        })
        .collect()
}

fn number(text: &str, file: &'static str) -> Result<u64, Error> {
    text.trim().parse().map_err(|_| Error::Malformed(file))
}

/// A limit file: a number, or `max` for none (reported as `none`).
fn limit(text: &str, file: &'static str, none: u64) -> Result<u64, Error> {
    match text.trim() {
        "max" => Ok(none),
        other => number(other, file),
    }
}

/// The file writes that apply `resources`, in runc's cgroup v2 terms.
fn writes(resources: &LinuxResources) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    let mut push = |field, file, value: String| writes.push(Write { field, file, value });
    if let Some(memory) = resources.memory() {
        match memory.limit() {
            Some(-1) => push("memory.limit", "memory.max", "max".into()),
            Some(limit) if limit > 0 => push("memory.limit", "memory.max", limit.to_string()),
            Some(limit) => {
                return Err(Error::Invalid(
                    "memory.limit",
                    format!("{limit} is not a positive byte count or -1"),
                ))
            }
            None => {}
        }
        match memory.reservation() {
            Some(-1) => push("memory.reservation", "memory.low", "0".into()),
            Some(bytes) if bytes >= 0 => {
                push("memory.reservation", "memory.low", bytes.to_string())
            }
            Some(bytes) => {
                return Err(Error::Invalid(
                    "memory.reservation",
                    format!("{bytes} is negative"),
                ))
            }
            None => {}
        }
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(shares) = cpu.shares().filter(|&s| s != 0) {
            // runc's conversion of cgroup v1 shares [2, 262144] to v2
            // weight [1, 10000].
            let shares = shares.clamp(2, 262_144);
            let weight = 1 + ((shares - 2) * 9999) / 262_142;
            push("cpu.shares", "cpu.weight", weight.to_string());
        }
        let quota = cpu.quota().unwrap_or(0);
        let period = cpu.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut max = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_string()
            };
            if period != 0 {
                max.push_str(&format!(" {period}"));
            }
            push("cpu.quota", "cpu.max", max);
        }
        if let Some(cpus) = cpu.cpus().as_ref().filter(|c| !c.is_empty()) {
            push("cpu.cpus", "cpuset.cpus", cpus.clone());
        }
        if let Some(mems) = cpu.mems().as_ref().filter(|m| !m.is_empty()) {
            push("cpu.mems", "cpuset.mems", mems.clone());
        }
    }
    if let Some(pids) = resources.pids() {
        let value = match pids.limit() {
            limit if limit > 0 => limit.to_string(),
            _ => "max".to_string(),
        };
        push("pids.limit", "pids.max", value);
    }
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(value: serde_json::Value) -> LinuxResources {
        serde_json::from_value(value).unwrap()
    }

    fn files(resources_json: serde_json::Value) -> Vec<(&'static str, String)> {
        writes(&resources(resources_json))
            .unwrap()
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect()
    }

    #[test]
    fn resources_become_cgroup_v2_files() {
        assert_eq!(
            files(
                json!({"memory": {"limit": 104857600, "reservation": 52428800},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
                "pids": {"limit": 64}})
            ),
            [
                ("memory.max", "104857600".to_string()),
                ("memory.low", "52428800".to_string()),
                ("cpu.weight", "39".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("cpuset.cpus", "0".to_string()),
                ("pids.max", "64".to_string()),
            ]
        );
        assert_eq!(
            files(
                json!({"memory": {"limit": -1}, "cpu": {"quota": -1, "period": 100000},
                "pids": {"limit": 0}})
            ),
            [
                ("memory.max", "max".to_string()),
                ("cpu.max", "max 100000".to_string()),
                ("pids.max", "max".to_string()),
            ]
        );
        assert!(files(json!({})).is_empty());
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = writes(&resources(json!({"memory": {"limit": -5}}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "linux.resources.memory.limit: -5 is not a positive byte count or -1"
        );
        let err = writes(&resources(json!({"memory": {"reservation": -7}}))).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("linux.resources.memory.reservation"));
    }

    /// A directory laid out like a cgroup v2 hierarchy, with the files the
    /// kernel would provide for the container's cgroup.
    fn fake_hierarchy() -> tempfile::TempDir {
        let hierarchy = tempfile::tempdir().unwrap();
        let root = hierarchy.path();
        let dir = root.join(CONTAINER_CGROUP);
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        for (file, text) in [
            ("cgroup.procs", ""),
            ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n"),
            ("memory.stat", "anon 4096\nfile 8192\n"),
            ("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            ("memory.current", "12288\n"),
            ("memory.peak", "20480\n"),
            ("memory.max", "max\n"),
            ("pids.current", "2\n"),
            ("pids.max", "64\n"),
        ] {
            fs::write(dir.join(file), text).unwrap();
        }
        hierarchy
    }

    #[test]
    fn stats_read_the_cgroup_files() {
        let hierarchy = fake_hierarchy();
        let root = hierarchy.path();
        let cgroup = Cgroup::create(root, CONTAINER_CGROUP, None).unwrap();
        // Each write replaces the file: the last controller enabled is left.
        assert_eq!(
            fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+pids"
        );
        let stats = cgroup.stats().unwrap();
        assert_eq!(stats.cpu.usage.total, 1_500_000);
        assert_eq!(stats.cpu.usage.kernel, 500_000);
        assert_eq!(stats.cpu.usage.user, 1_000_000);
        assert_eq!(stats.cpu.throttling.throttled_periods, 1);
        assert_eq!(stats.memory.usage.usage, 12288);
        assert_eq!(stats.memory.usage.max, 20480);
        assert_eq!(stats.memory.usage.limit, u64::MAX);
        assert_eq!(stats.memory.usage.failcnt, 3);
        assert_eq!(stats.memory.cache, 8192);
        assert_eq!(stats.memory.raw["anon"], 4096);
        assert_eq!(stats.pids.current, 2);
        assert_eq!(stats.pids.limit, 64);

        cgroup
            .update(&resources(
                json!({"memory": {"limit": 1048576}, "pids": {"limit": 5}}),
            ))
            .unwrap();
        assert_eq!(
            fs::read_to_string(root.join("container/memory.max")).unwrap(),
            "1048576"
        );
        assert_eq!(
            fs::read_to_string(root.join("container/pids.max")).unwrap(),
            "5"
        );

        fs::write(root.join("container/pids.current"), "lots\n").unwrap();
        assert_eq!(
            cgroup.stats().unwrap_err().to_string(),
            "the cgroup's pids.current is malformed"
        );
    }

    #[test]
    fn a_member_cgroup_is_named_and_removed() {
        let hierarchy = fake_hierarchy();
        let root = hierarchy.path();
        // What the kernel would make in a new cgroup.
        fs::create_dir(root.join("member-b")).unwrap();
        fs::write(root.join("member-b/cgroup.procs"), "").unwrap();
        let cgroup = Cgroup::create(root, "member-b", None).unwrap();
        assert!(root.join("member-b/cgroup.procs").exists());
        // A fake hierarchy's directory holds files: rmdir fails, named.
        let err = cgroup.remove().unwrap_err();
        assert!(err.to_string().contains("member-b"), "{err}");
    }

    #[test]
    fn a_missing_hierarchy_is_named() {
        let err =
            Cgroup::create(Path::new("/nonexistent/cgroup"), CONTAINER_CGROUP, None).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("creating the container cgroup /nonexistent/cgroup"));
    }
}
