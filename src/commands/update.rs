//! `runvm update`: change a running container's resources, from
//! `--resources FILE` (`-` for stdin, as containerd sends them) or the
//! single flags. They apply to the container's cgroup in the guest, within
//! the VM's size: the VM cannot grow (no hot-plug yet).

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use super::CommandError;
use crate::container::Container;

/// Update a container's resource limits.
#[derive(Args, Debug)]
pub struct Update {
    /// OCI linux.resources JSON; `-` reads stdin.
    #[arg(long, short = 'r')]
    pub resources: Option<PathBuf>,
    /// CPU CFS period (microseconds).
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (microseconds; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// Host CPUs to pin to (fixed once the VM runs: refused).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Host memory nodes to pin to (fixed once the VM runs: refused).
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k, m, g; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit (bytes, or with k, m, g).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (the guest has no swap: it holds trivially).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (0 or -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// The container id.
    pub id: String,
}

/// What is wrong with the update's input.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("reading --resources {}", .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    #[error("invalid linux.resources JSON in {}", .0.display())]
    Parse(PathBuf, #[source] serde_json::Error),
    #[error("--{0} {1:?}: expected bytes, optionally with k, m or g, or -1")]
    Bytes(&'static str, String),
}

/// `512m`, `1G`, `1048576`, `-1`: a byte count as runc's flags take it.
fn parse_bytes(flag: &'static str, text: &str) -> Result<i64, UpdateError> {
    let bad = || UpdateError::Bytes(flag, text.to_string());
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.to_ascii_lowercase();
    let digits = lower.trim_end_matches('b');
    let (number, shift) = match digits.chars().last() {
        Some('k') => (&digits[..digits.len() - 1], 10),
        Some('m') => (&digits[..digits.len() - 1], 20),
        Some('g') => (&digits[..digits.len() - 1], 30),
        _ => (digits, 0),
    };
    let number: i64 = number.parse().map_err(|_| bad())?;
    if number < 0 {
        return Err(bad());
    }
    number.checked_mul(1 << shift).ok_or_else(bad)
}

impl Update {
    /// The resources to apply: the file's, or the flags'.
    fn resources(&self) -> Result<LinuxResources, CommandError> {
        if let Some(path) = &self.resources {
            let mut text = Vec::new();
            let read = if path.as_os_str() == "-" {
                std::io::stdin().read_to_end(&mut text).map(drop)
            } else {
                std::fs::read(path).map(|bytes| text = bytes)
            };
            read.map_err(|e| UpdateError::Read(path.clone(), e))?;
            return Ok(
                serde_json::from_slice(&text).map_err(|e| UpdateError::Parse(path.clone(), e))?
            );
        }
        let mut resources = LinuxResources::default();
        let bytes = |flag, value: &Option<String>| {
            value.as_deref().map(|v| parse_bytes(flag, v)).transpose()
        };
        let limit = bytes("memory", &self.memory)?;
        let reservation = bytes("memory-reservation", &self.memory_reservation)?;
        let swap = bytes("memory-swap", &self.memory_swap)?;
        if limit.is_some() || reservation.is_some() || swap.is_some() {
            let mut memory = LinuxMemory::default();
            memory.set_limit(limit);
            memory.set_reservation(reservation);
            memory.set_swap(swap);
            resources.set_memory(Some(memory));
        }
        let cpu_given = self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_share.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some();
        if cpu_given {
            let mut cpu = LinuxCpu::default();
            cpu.set_period(self.cpu_period);
            cpu.set_quota(self.cpu_quota);
            cpu.set_shares(self.cpu_share);
            cpu.set_cpus(self.cpuset_cpus.clone());
            cpu.set_mems(self.cpuset_mems.clone());
            resources.set_cpu(Some(cpu));
        }
        if let Some(limit) = self.pids_limit {
            let mut pids = LinuxPids::default();
            pids.set_limit(limit);
            resources.set_pids(Some(pids));
        }
        Ok(resources)
    }

    pub fn run(&self, root: &std::path::Path) -> Result<(), CommandError> {
        let container = Container::load(root, &self.id)?;
        container.update(self.resources()?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        update: Update,
    }

    fn update(args: &[&str]) -> Update {
        Cli::try_parse_from(std::iter::once("update").chain(args.iter().copied()))
            .unwrap()
            .update
    }

    #[test]
    fn byte_counts_as_runc_takes_them() {
        assert_eq!(parse_bytes("memory", "512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "64kb").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("memory", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        for bad in ["", "m", "-5", "1.5g", "9999999999999g"] {
            assert!(parse_bytes("memory", bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn flags_become_resources() {
        let resources = update(&[
            "--memory",
            "128m",
            "--cpu-quota",
            "50000",
            "--cpu-period",
            "100000",
            "--pids-limit",
            "32",
            "c1",
        ])
        .resources()
        .unwrap();
        assert_eq!(resources.memory().unwrap().limit(), Some(128 << 20));
        let cpu = resources.cpu().clone().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50000), Some(100000)));
        assert_eq!(resources.pids().unwrap().limit(), 32);
        let nothing = update(&["c1"]).resources().unwrap();
        assert_eq!(nothing, LinuxResources::default());
    }

    #[test]
    fn a_resources_file_is_read_and_checked() {
        let path = std::env::temp_dir().join(format!("runvm-update-{}.json", std::process::id()));
        std::fs::write(&path, r#"{"pids":{"limit":7}}"#).unwrap();
        let resources = update(&["-r", path.to_str().unwrap(), "c1"])
            .resources()
            .unwrap();
        assert_eq!(resources.pids().unwrap().limit(), 7);
        std::fs::write(&path, r#"{"pids":{"limit":"seven"}}"#).unwrap();
        let err = update(&["-r", path.to_str().unwrap(), "c1"])
            .resources()
            .unwrap_err();
        assert!(crate::error_chain::error_chain(&err).starts_with("invalid linux.resources JSON"));
        std::fs::remove_file(&path).unwrap();
    }
}
