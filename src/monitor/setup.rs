//! The monitor's set-up for a container (`runvm monitor`, which `create`
//! starts): it enters a private mount namespace and the container's
//! network namespace, joins the host cgroup, mirrors the container's UTS,
//! IPC and cgroup namespaces on the host, stages the share, builds the
//! state and the monitor's configuration, then runs the container.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::container::{own_start_time, Container, State, Status};
use crate::container_dir::ContainerDir;
use crate::monitor::guest_images::{self, GuestImages};
use crate::monitor::sandbox::host_cgroup::{self, HostCgroup};
use crate::monitor::sandbox::host_namespaces::{self, MirrorError};
use crate::monitor::sandbox::netns::{self, NetnsError};
use crate::monitor::sandbox::{pod, share};
use crate::monitor::{self, member, session, ContainerSetup, Launch, MonitorConfig};
use crate::oci::annotations::KERNEL_ANNOTATION;
use crate::oci::bundle::network::Network;
use crate::oci::{bundle, sizing};

/// How long a container's guest may take to boot to its agent.
const AGENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The container a monitor is started for.
pub struct ContainerMonitor<'a> {
    /// The container id.
    pub id: &'a str,
    /// The bundle.
    pub bundle: &'a Path,
    /// Where to send the pty master.
    pub console_socket: Option<&'a Path>,
    /// `--systemd-cgroup`: `linux.cgroupsPath` is slice:prefix:name.
    pub systemd_cgroup: bool,
    /// For a pod member: the id of the pod's first container, whose VM it
    /// joins (`create` found it by the spec's namespace paths).
    pub pod: Option<&'a str>,
}

/// Why the monitor could not create the container.
#[derive(Debug, thiserror::Error)]
pub enum MonitorSetupError {
    #[error(transparent)]
    Share(#[from] share::ShareError),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error(transparent)]
    Sizing(#[from] sizing::SizingError),
    #[error(transparent)]
    Image(#[from] guest_images::ImageError),
    #[error(transparent)]
    Monitor(#[from] monitor::MonitorError),
    #[error(transparent)]
    HostCgroup(#[from] host_cgroup::HostCgroupError),
    #[error("recording the host cgroup")]
    HostCgroupRecord(#[source] std::io::Error),
    #[error(transparent)]
    Console(#[from] session::SessionError),
    #[error(transparent)]
    Seccomp(#[from] vmm::seccomp::SeccompError),
    #[error("preparing the monitor's jail")]
    Jail(#[from] crate::monitor::sandbox::jail::JailError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error("the pod's first container {0} is not running")]
    PodGone(String),
    #[error("staging the pod member's share")]
    Pod(#[from] pod::PodError),
}

impl ContainerMonitor<'_> {
    /// Joins the host cgroup before the VM exists, so its every thread and
    /// page is accounted there; records what it made for `delete`. Without
    /// a `linux.cgroupsPath`, a host that refuses (no cgroup access) only
    /// gets a warning, as runc's rootless mode does.
    fn join_host_cgroup(
        &self,
        root: &Path,
        spec: &oci_spec::runtime::Spec,
        systemd: bool,
    ) -> Result<(), MonitorSetupError> {
        let cgroups_path = spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let relative = host_cgroup::relative_path(cgroups_path.as_deref(), systemd, self.id)?;
        let cpu = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.cpu().as_ref());
        let pinning = host_cgroup::Pinning {
            cpus: cpu.and_then(|c| c.cpus().clone()),
            mems: cpu.and_then(|c| c.mems().clone()),
        };
        let joined = match HostCgroup::join(&relative, std::process::id(), &pinning) {
            Ok(joined) => joined,
            Err(e) if cgroups_path.is_none() => {
                tracing::warn!(
                    "not joining a host cgroup: {}",
                    crate::error_chain::error_chain(&e)
                );
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        joined
            .save(&ContainerDir::new(root, self.id))
            .map_err(MonitorSetupError::HostCgroupRecord)
    }

    /// The container's process, its stdio attached to the console socket
    /// if it has a terminal; `guest_spec`'s resources as the guest's
    /// cgroup takes them.
    fn guest_process(
        &self,
        bundle: &bundle::Bundle,
        guest_spec: &mut oci_spec::runtime::Spec,
    ) -> Result<oci_spec::runtime::Process, MonitorSetupError> {
        if let Some(linux) = guest_spec.linux_mut() {
            let resources = linux.resources().as_ref().map(sizing::guest_resources);
            linux.set_resources(resources);
        }
        let process = bundle
            .spec
            .process()
            .clone()
            .ok_or(bundle::BundleError::NoProcess)?;
        if let (Some(socket), Some(true)) = (self.console_socket, process.terminal()) {
            session::attach_console(socket)?;
        }
        Ok(process)
    }

    /// The state of the container from `bundle` as `create` leaves it, a
    /// member of `pod`'s pod if that is given.
    fn state(&self, bundle: &bundle::Bundle, pod: Option<&str>) -> State {
        let hooks = bundle.spec.hooks().as_ref();
        State {
            id: self.id.to_string(),
            pid: std::process::id() as i32,
            pid_start_time: own_start_time().unwrap_or(0),
            status: Status::Creating,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: humantime::format_rfc3339_nanos(SystemTime::now()).to_string(),
            annotations: bundle
                .spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            poststart_hooks: hooks
                .and_then(|h| h.poststart().clone())
                .unwrap_or_default(),
            poststop_hooks: hooks.and_then(|h| h.poststop().clone()).unwrap_or_default(),
            pod: pod.map(str::to_string),
        }
    }

    /// Loads the bundle and moves this process to the host side its spec
    /// names: the network namespace, the host cgroup, for a pod member the
    /// UTS and IPC namespaces named by path (its first container's), then
    /// new UTS, IPC and cgroup namespaces as asked (after the cgroup: a
    /// new cgroup namespace is rooted at it). Call it with one thread: the
    /// namespaces are then every thread's. Returns the bundle, its network
    /// and the namespaces left, where the host's hooks run.
    fn enter_host_side(
        &self,
        root: &Path,
    ) -> Result<(bundle::Bundle, Network, Vec<File>), MonitorSetupError> {
        vmm::seccomp::report_denials_to(crate::logging::raw_fd(), crate::logging::json())?;
        let bundle = bundle::load(self.bundle, true)?;
        let network = bundle::network::network(&bundle.spec)?;
        let mut left = vec![netns::enter(&network.namespace)?];
        self.join_host_cgroup(root, &bundle.spec, self.systemd_cgroup)?;
        if self.pod.is_some() {
            left.extend(host_namespaces::join_paths(&bundle.spec)?);
        }
        left.extend(host_namespaces::enter(&bundle.spec)?);
        Ok((bundle, network, left))
    }

    /// Sets pod member `self.id` up in the VM of container `owner` and
    /// runs it to its end (see `monitor::member`). Its host process joins
    /// the namespaces its spec names (the first container's network, IPC
    /// and UTS: `/proc/<pid>/ns/*` of its pid leads there too), makes the
    /// ones it asks to be new (UTS, IPC, cgroup) and joins its host cgroup.
    fn run_member(
        &self,
        root: &Path,
        ready: File,
        owner: &str,
    ) -> Result<proto::agent::ExitStatus, MonitorSetupError> {
        let (bundle, _, runtime_namespaces) = self.enter_host_side(root)?;
        let first = Container::load(root, owner)
            .ok()
            .filter(|c| c.status() != Status::Stopped)
            .ok_or_else(|| MonitorSetupError::PodGone(owner.to_string()))?;
        let first_dir = ContainerDir::new(root, owner);
        let prefix = Path::new(proto::agent::SHARE_MEMBERS).join(self.id);
        let (mut guest_spec, binds) = share::plan(
            &bundle.spec,
            &bundle.dir,
            &bundle.rootfs,
            &first_dir.share(),
            &prefix,
        );
        pod::stage(first.state.pid, &binds)?;
        let shared = pod_namespaces(&mut guest_spec);
        let process = self.guest_process(&bundle, &mut guest_spec)?;
        let dir = ContainerDir::new(root, self.id);
        let state = self.state(&bundle, Some(owner));
        let config = member::MemberConfig {
            id: self.id.to_string(),
            vsock: first_dir.vsock_socket(),
            spec: guest_spec,
            shared,
            process,
            control_socket: dir.control_socket(),
            ready,
            state_dir: dir.to_path_buf(),
            state: Box::new(state),
            hooks: Box::new(bundle.spec.hooks().clone().unwrap_or_default()),
            runtime_namespaces,
        };
        Ok(member::run(config)?)
    }

    /// Sets the container up under `root`, reports on `ready` once it is
    /// created, and runs it to its end; returns how its process ended.
    pub fn run(
        &self,
        root: &Path,
        ready: File,
    ) -> Result<proto::agent::ExitStatus, MonitorSetupError> {
        // Absolute: the jail's paths mirror the host's, and the process
        // leaves its working directory.
        let root = &std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        if let Some(owner) = self.pod {
            return self.run_member(root, ready, owner);
        }
        // Before any thread: unshare(CLONE_NEWNS) needs a single thread.
        share::enter_private_mount_namespace()?;
        let (bundle, network, runtime_namespaces) = self.enter_host_side(root)?;
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let size = sizing::vm_size(&bundle.spec, u8::try_from(host_cpus).unwrap_or(u8::MAX))?;
        let kernel_override = bundle
            .spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(KERNEL_ANNOTATION))
            .map(PathBuf::from);
        let kernel = guest_images::kernel(kernel_override.as_deref())?;
        let initramfs = guest_images::initramfs(None)?;

        let dir = ContainerDir::new(root, self.id);
        crate::monitor::sandbox::jail::make_movable(&dir)?;
        let share_dir = dir.share();
        let mut guest_spec = share::stage(&bundle.spec, &bundle.dir, &bundle.rootfs, &share_dir)?;
        vmm::timing::mark("share staged");
        let process = self.guest_process(&bundle, &mut guest_spec)?;
        let hooks = bundle.spec.hooks().clone();
        let state = self.state(&bundle, None);
        let config = MonitorConfig {
            vcpus: size.vcpus,
            memory_mib: size.memory_mib,
            images: GuestImages {
                kernel,
                initrd: Some(initramfs),
                cmdline: guest_images::QUIET_CMDLINE.to_string(),
                pvh: false,
            },
            process,
            runtime_dir: dir.to_path_buf(),
            control_socket: Some(dir.control_socket()),
            agent_timeout: AGENT_TIMEOUT,
            container: Some(ContainerSetup {
                spec: guest_spec,
                share_dir,
                share_cache: bundle::share_cache::share_cache(&bundle.spec)?,
                network,
            }),
            launch: Launch::OnStart {
                ready,
                state_dir: dir.to_path_buf(),
                state: Box::new(state),
                hooks: Box::new(hooks.unwrap_or_default()),
                runtime_namespaces,
            },
        };
        Ok(monitor::run(config)?)
    }
}

/// Takes the namespace paths out of a pod member's guest spec (they name
/// the first container's network, IPC and UTS namespaces, which `create`
/// checked) and returns which of the first container's namespaces the
/// member shares in the guest besides the network, which every container
/// of the VM shares.
fn pod_namespaces(spec: &mut oci_spec::runtime::Spec) -> proto::agent::SharedNamespaces {
    use oci_spec::runtime::LinuxNamespaceType;
    let mut shared = proto::agent::SharedNamespaces::default();
    let Some(namespaces) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    else {
        return shared;
    };
    namespaces.retain(|ns| {
        let joined = ns
            .path()
            .as_ref()
            .is_some_and(|p| !p.as_os_str().is_empty());
        match ns.typ() {
            LinuxNamespaceType::Uts if joined => shared.uts = true,
            LinuxNamespaceType::Ipc if joined => shared.ipc = true,
            _ => {}
        }
        !joined
    });
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_members_joined_namespaces_become_shared_ones() {
        let mut spec: oci_spec::runtime::Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "linux": {"namespaces": [
                {"type": "pid"}, {"type": "network", "path": "/proc/7/ns/net"},
                {"type": "ipc", "path": "/proc/7/ns/ipc"}, {"type": "uts"}, {"type": "mount"}
            ]}
        }))
        .unwrap();
        let shared = pod_namespaces(&mut spec);
        assert_eq!(
            shared,
            proto::agent::SharedNamespaces {
                uts: false,
                ipc: true
            }
        );
        let left: Vec<_> = spec
            .linux()
            .as_ref()
            .unwrap()
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|ns| (ns.typ(), ns.path().clone()))
            .collect();
        use oci_spec::runtime::LinuxNamespaceType as T;
        assert_eq!(left, [(T::Pid, None), (T::Uts, None), (T::Mount, None)]);
    }
}
