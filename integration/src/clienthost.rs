//! The client test host: the nested test host carrying docker, containerd
//! and podman, whose scripts (`client-tests/*.sh`) drive runvm through them
//! as a user would, each case once with runc and then with runvm.

use std::path::PathBuf;
use std::time::Duration;

use crate::network_tools::network_tools;
use crate::scripts::{self, Script};
use crate::Result;

/// Each case runs with these, in this order: runc first, so that a harness
/// problem shows as a runc failure.
pub const RUNTIMES: [&str; 2] = ["runc", "runvm"];
/// A client case's default timeout: a container start is seconds under TCG
/// with runc, tens of seconds with runvm.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(240);
/// The test that starts the daemons, first in every client test host boot.
pub const SETUP_NAME: &str = "clienthost_setup";

/// What the clients need inside besides the network tools (`ip`, iptables
/// and its extensions, the CNI plugins), at their host paths (Debian's
/// packages docker.io, containerd, podman, conmon, netavark, runc,
/// iptables, procps). Executables bring their shared libraries; directories
/// come whole.
const CLIENT_FILES: &[&str] = &[
    "/usr/bin/docker",
    "/usr/sbin/dockerd",
    "/usr/sbin/docker-proxy",
    "/usr/bin/docker-init",
    "/usr/bin/containerd",
    "/usr/bin/containerd-shim-runc-v2",
    "/usr/bin/ctr",
    "/usr/bin/podman",
    "/usr/bin/conmon",
    "/usr/lib/podman/netavark",
    "/usr/share/containers",
    "/etc/containers/policy.json",
    "/usr/sbin/runc",
    // xtables-nft-multi, which picks the command by its name: a copy under
    // each name the daemons run.
    "/usr/sbin/iptables",
    "/usr/sbin/iptables-save",
    "/usr/sbin/iptables-restore",
    "/usr/sbin/ip6tables",
    "/usr/sbin/ip6tables-save",
    "/usr/sbin/ip6tables-restore",
    // `docker top` runs the host's `ps` with procps' options.
    "/usr/bin/ps",
];

/// The client cases, `client-tests/*.sh`.
pub fn discover_cases() -> Result<Vec<Script>> {
    scripts::discover(&crate::crate_dir().join("client-tests"), CASE_TIMEOUT)
}

/// The script that starts the daemons and makes the image.
pub fn setup_script() -> Result<Script> {
    let path = crate::crate_dir().join("clienthost").join("setup.sh");
    let script = Script::new(&path, CASE_TIMEOUT)?;
    // Named for the runner's report, whatever the file is called.
    Ok(Script {
        name: SETUP_NAME.to_owned(),
        ..script
    })
}

/// The configuration files the README quotes and the setup installs:
/// docker's daemon.json, podman's containers.conf, containerd's config,
/// the Kubernetes RuntimeClass.
pub fn docs_dir() -> PathBuf {
    xtask::workspace_root().join("docs").join("clients")
}

/// The host files the client test host carries besides the standard ones.
pub fn host_files() -> Result<Vec<PathBuf>> {
    let mut files = network_tools()?;
    files.extend(CLIENT_FILES.iter().map(PathBuf::from));
    files.push(docs_dir());
    Ok(files)
}

/// Variables for the scripts: where the documented configuration is.
pub fn extra_env() -> Vec<(String, PathBuf)> {
    vec![("CLIENT_DOCS".to_owned(), docs_dir())]
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The file names under `dir`, sorted.
    fn file_names(dir: &Path) -> std::io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    /// The README's snippets are the files the client tests install: each
    /// one is quoted whole, as one fenced block, under its file name.
    #[test]
    fn the_readme_quotes_each_client_configuration_file() {
        let readme = std::fs::read_to_string(xtask::workspace_root().join("README.md")).unwrap();
        let names = file_names(&docs_dir()).unwrap();
        assert!(names.len() >= 4, "docs/clients holds {names:?}");
        for name in names {
            let text = std::fs::read_to_string(docs_dir().join(&name)).unwrap();
            let fence = readme
                .find(&format!("docs/clients/{name}"))
                .and_then(|at| readme[at..].find("```").map(|fence| at + fence))
                .unwrap_or_else(|| panic!("the README does not name docs/clients/{name}"));
            let block_start = fence + readme[fence..].find('\n').unwrap() + 1;
            let block_len = readme[block_start..].find("```").unwrap();
            assert_eq!(
                &readme[block_start..block_start + block_len],
                text,
                "the README's block after docs/clients/{name} is not that file"
            );
        }
    }

    /// The RuntimeClass selects the runtime the containerd config names.
    #[test]
    fn the_runtime_class_names_containerds_runvm_runtime() {
        let read = |name: &str| std::fs::read_to_string(docs_dir().join(name)).unwrap();
        assert!(read("runtimeclass.yaml").contains("\nhandler: runvm\n"));
        assert!(read("containerd-config.toml").contains(".containerd.runtimes.runvm]"));
    }

    #[test]
    fn the_setup_and_the_cases_are_found() {
        assert_eq!(setup_script().unwrap().name, SETUP_NAME);
        let cases = discover_cases().unwrap();
        assert!(cases.iter().any(|case| case.name == "docker_run_echo"));
        assert!(cases.iter().all(|case| case.name != SETUP_NAME));
    }

    #[test]
    fn every_client_file_is_on_this_host() {
        let missing: Vec<&&str> = CLIENT_FILES
            .iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        assert!(
            missing.is_empty(),
            "missing {missing:?}: run scripts/setup.sh"
        );
    }
}
