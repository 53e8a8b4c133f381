//! The process's open-file limit, and how many host fds the share may
//! hold within it.
//!
//! The passthrough holds one host fd per inode the guest knows (an
//! `O_PATH` fd, until the guest forgets the inode) plus one per open file
//! or directory. Under the usual RLIMIT_NOFILE soft limit of 1024, a guest
//! that has seen about a thousand files (created them, or listed a big
//! directory) made every later open in the whole VMM fail with EMFILE: its
//! own next file, but also the vsock device's and the monitor's sockets.
//! So, as virtiofsd does, the limit is raised first, and the share's bound
//! ([`SecureFs`](super::secure::SecureFs) answers EMFILE past it) is kept
//! below the limit with room for the rest of the VMM.

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use tracing::warn;

/// Most fds kept for the VMM's own use (vCPUs, eventfds, sockets, stdio).
const MAX_RESERVED_FDS: u64 = 1024;

/// RLIMIT_NOFILE as (soft, hard).
fn nofile_limit() -> io::Result<(u64, u64)> {
    Ok(getrlimit(Resource::RLIMIT_NOFILE)?)
}

fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    Ok(setrlimit(Resource::RLIMIT_NOFILE, soft, hard)?)
}

/// The fds the rest of the VMM keeps under a soft limit of `soft_limit`.
fn reserved(soft_limit: u64) -> u64 {
    (soft_limit / 4).min(MAX_RESERVED_FDS)
}

/// How many host fds the share may hold under a soft limit of
/// `soft_limit`, at most `max`.
fn budget_within(soft_limit: u64, max: usize) -> usize {
    let budget = soft_limit.saturating_sub(reserved(soft_limit));
    usize::try_from(budget).map_or(max, |budget| budget.min(max))
}

/// Raises this process's RLIMIT_NOFILE so that `max` share fds fit with
/// the VMM's own (the hard limit too where allowed: CAP_SYS_RESOURCE, up
/// to fs.nr_open), and returns how many host fds the share may hold: `max`,
/// or less if the limit could not be raised that far.
pub(crate) fn host_fd_budget(max: usize) -> usize {
    let wanted = u64::try_from(max)
        .unwrap_or(u64::MAX)
        .saturating_add(MAX_RESERVED_FDS);
    let (soft, hard) = match nofile_limit() {
        Ok(limits) => limits,
        Err(e) => {
            warn!("virtio-fs: cannot read RLIMIT_NOFILE ({e}); the share keeps to 768 fds");
            return budget_within(1024, max);
        }
    };
    if soft < wanted {
        let raised = hard < wanted && set_nofile_limit(wanted, wanted).is_ok();
        if !raised {
            // Not allowed past the hard limit: up to it, then.
            let _ = set_nofile_limit(wanted.min(hard), hard);
        }
    }
    let soft = nofile_limit().map_or(soft, |(soft, _)| soft);
    let budget = budget_within(soft, max);
    if budget < max {
        warn!(
            "virtio-fs: RLIMIT_NOFILE is {soft} and cannot be raised: the share holds at most \
             {budget} host fds (files the guest knows plus open files), not {max}"
        );
    }
    budget
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_leaves_room_for_the_vmm() {
        // The usual defaults: a quarter kept.
        assert_eq!(budget_within(1024, 65536), 768);
        assert_eq!(budget_within(4096, 65536), 3072);
        // Enough room: the share's own maximum.
        assert_eq!(budget_within(65536 + 1024, 65536), 65536);
        assert_eq!(budget_within(libc::RLIM_INFINITY, 65536), 65536);
        assert_eq!(budget_within(0, 65536), 0);
    }

    #[test]
    fn the_soft_limit_is_raised_to_fit_the_budget() {
        // Raising only ever grows the limits, which other tests can bear.
        let budget = host_fd_budget(2048);
        let (soft, hard) = nofile_limit().unwrap();
        assert!(budget > 0);
        assert!(
            soft >= budget as u64 + reserved(soft),
            "soft limit {soft} for a budget of {budget}"
        );
        // Unless the hard limit forbids it, all of it fits.
        if hard >= 2048 + MAX_RESERVED_FDS {
            assert_eq!(budget, 2048);
        }
    }
}
