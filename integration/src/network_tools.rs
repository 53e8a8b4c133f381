//! The host's network tools that the network tests and benchmarks run in
//! the test host, at their host paths: iproute2's `ip` and `tc`, the CNI
//! plugins, and iptables (its nft back end) with the extensions it loads
//! at run time, which `ldd` cannot see.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The files to carry, each an executable or library on this host.
pub fn network_tools() -> Result<Vec<PathBuf>> {
    let mut tools: Vec<PathBuf> = [
        "/usr/bin/ip",
        "/usr/sbin/tc",
        "/usr/lib/cni/bridge",
        "/usr/lib/cni/host-local",
        "/usr/lib/cni/portmap",
        "/usr/lib/cni/loopback",
        "/usr/sbin/xtables-nft-multi",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    let extensions = Path::new("/usr/lib/x86_64-linux-gnu/xtables");
    let missing = |e| {
        Error::Setup(format!(
            "{}: {e} (scripts/setup.sh installs iptables)",
            extensions.display()
        ))
    };
    tools.extend(
        std::fs::read_dir(extensions)
            .map_err(missing)?
            .flatten()
            .map(|entry| entry.path()),
    );
    if let Some(tool) = tools.iter().find(|tool| !tool.exists()) {
        return Err(Error::Setup(format!(
            "{} is missing (scripts/setup.sh installs iproute2, iptables, containernetworking-plugins)",
            tool.display()
        )));
    }
    Ok(tools)
}
