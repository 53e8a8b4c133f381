//! Resource usage of a container, read by the guest agent from the
//! container's cgroup (v2) and printed by `runvm events`. The JSON shape
//! is runc's (`libcontainer/types`), so tools reading `runc events` read
//! these too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything `runvm events` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub memory: Memory,
    pub pids: Pids,
}

/// CPU time, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub total: u64,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttling {
    pub periods: u64,
    #[serde(rename = "throttledPeriods")]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime")]
    pub throttled_time: u64,
}

/// Memory, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memory {
    /// Page cache (`file` in memory.stat).
    pub cache: u64,
    pub usage: MemoryUsage,
    /// memory.stat as it is.
    pub raw: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryUsage {
    /// memory.max; u64::MAX for none.
    pub limit: u64,
    /// memory.current.
    pub usage: u64,
    /// memory.peak.
    pub max: u64,
    /// How often usage hit the limit (memory.events `max`).
    pub failcnt: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pids {
    pub current: u64,
    /// pids.max; 0 for none, as runc reports it.
    pub limit: u64,
}

/// What `runvm events` prints per line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `stats`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub data: Stats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_runc_names() {
        let event = Event {
            kind: "stats".into(),
            id: "c1".into(),
            data: Stats::default(),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.starts_with(r#"{"type":"stats","id":"c1","data":{"cpu":{"usage":{"total":0"#));
        assert!(json.contains(r#""throttledPeriods":0"#));
        assert!(json.contains(r#""pids":{"current":0,"limit":0}"#));
    }
}
