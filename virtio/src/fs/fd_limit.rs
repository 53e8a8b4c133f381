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

use tracing::warn;

/// Most fds kept for the VMM's own use (vCPUs, eventfds, sockets, stdio).
const MAX_RESERVED_FDS: u64 = 1024;

fn nofile_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(limit)
}

fn set_nofile_limit(soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
    let limit = match nofile_limit() {
        Ok(limit) => limit,
        Err(e) => {
            warn!("virtio-fs: cannot read RLIMIT_NOFILE ({e}); the share keeps to 768 fds");
            return budget_within(1024, max);
        }
    };
    if limit.rlim_cur < wanted {
        let raised = limit.rlim_max < wanted && set_nofile_limit(wanted, wanted).is_ok();
        if !raised {
            // Not allowed past the hard limit: up to it, then.
            let _ = set_nofile_limit(wanted.min(limit.rlim_max), limit.rlim_max);
        }
    }
    let soft = nofile_limit().map_or(limit.rlim_cur, |limit| limit.rlim_cur);
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
        let limit = nofile_limit().unwrap();
        assert!(budget > 0);
        assert!(
            limit.rlim_cur >= budget as u64 + reserved(limit.rlim_cur),
            "soft limit {} for a budget of {budget}",
            limit.rlim_cur
        );
        // Unless the hard limit forbids it, all of it fits.
        if limit.rlim_max >= 2048 + MAX_RESERVED_FDS {
            assert_eq!(budget, 2048);
        }
    }
}
