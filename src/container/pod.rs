//! A pod member as the CLI sees it: what its removal (`delete`, or a
//! failed `create`) undoes in the pod's first container, whose VM it ran
//! in: the member's container in the guest (its processes killed, its
//! cgroup removed) and its share, mounted in the first container's
//! monitor's mount namespace and kept under that container's share
//! directory (see `crate::monitor::sandbox::pod`).

use std::path::Path;
use std::time::Duration;

use super::{Container, Status};
use crate::agent_client::AgentClient;
use crate::container_dir::ContainerDir;
use crate::monitor::sandbox::pod::unstage;

/// How long the first container's agent may take to answer.
const AGENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Removes member `id` from the pod of container `first` under `root`.
/// Best effort, and quiet when the first container is gone already (its
/// VM and its monitor's mounts went with it): what is left is warned
/// about, and the member's directory in the first container's share
/// goes in any case.
pub fn leave(root: &Path, first: &str, id: &str) {
    // Absolute, as the monitor's mount points are.
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let first_dir = ContainerDir::new(&root, first);
    let member_share = first_dir.share().join(proto::agent::SHARE_MEMBERS).join(id);
    let live = Container::load(&root, first)
        .ok()
        .filter(|c| c.status() != Status::Stopped);
    if let Some(first) = live {
        let deleted = AgentClient::connect(&first_dir.vsock_socket(), AGENT_TIMEOUT)
            .and_then(|mut agent| agent.delete_member(id));
        if let Err(e) = deleted {
            tracing::warn!(
                "removing pod member {id} from the guest: {}",
                crate::error_chain::error_chain(&e)
            );
        }
        if let Err(e) = unstage(first.state.pid, &member_share) {
            tracing::warn!(
                "unmounting the share of pod member {id}: {}",
                crate::error_chain::error_chain(&e)
            );
        }
    }
    match std::fs::remove_dir_all(&member_share) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("removing {}: {e}", member_share.display());
        }
        _ => {}
    }
}
