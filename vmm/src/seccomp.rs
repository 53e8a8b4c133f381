//! Per-thread seccomp filters for the threads that handle guest data.
//!
//! Each kind of thread gets an allow list of the system calls it makes;
//! anything else kills the whole process with `SIGSYS`
//! (`SeccompAction::KillProcess`): a guest that steers a device handler
//! into an unexpected system call ends its VM instead of reaching the host
//! kernel. The programs are built once, before the threads start, and each
//! thread installs its own with [`install`] before it touches guest data.
//! Filtered: the vCPU threads, the device event loop ("vmm-events"), and
//! the monitor's stdio relays and signal forwarder (`session.rs`). The
//! filters are per thread: the monitor's main thread and its control
//! thread (which forks and execs OCI hooks, and a filter would be
//! inherited by them) are not filtered.
//!
//! Where an argument narrows what a call can do, the filter checks it:
//! `ioctl` on a vCPU thread is `KVM_RUN` only, `mmap` and `mprotect` never
//! make memory executable, `socket` is `AF_UNIX` only, `unshare` is
//! `CLONE_FS` only, the credential switches of virtio-fs change the
//! effective ids only, and `tgkill` only sends `SIGABRT` (a panic's abort).

use std::collections::BTreeMap;

pub use seccompiler::BpfProgram;
use seccompiler::{
    BackendError, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

vmm_sys_util::ioctl_io_nr!(KVM_RUN, kvm_bindings::KVMIO, 0x80);

/// Why a filter could not be built or installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the {0} seccomp filter")]
    Build(&'static str, #[source] BackendError),
    #[error("installing the seccomp filter of thread {0}")]
    Install(String, #[source] seccompiler::Error),
    #[error("the {0} thread ended before installing its seccomp filter")]
    Died(String),
}

/// A system call and the argument checks that allow it: one of the rules
/// (each a conjunction of conditions) must hold; no rules allow it with
/// any arguments.
type Rule = (i64, Vec<Vec<Condition>>);

fn allow(syscall: i64) -> Rule {
    (syscall, Vec::new())
}

fn allow_if(syscall: i64, rules: Vec<Vec<Condition>>) -> Rule {
    (syscall, rules)
}

/// One argument check, turned into a `SeccompCondition` by [`compile`].
struct Condition {
    index: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
}

/// Argument `index` (as the kernel reads it, 32 bits) equals `value`.
fn arg_eq(index: u8, value: u64) -> Condition {
    Condition {
        index,
        len: SeccompCmpArgLen::Dword,
        op: SeccompCmpOp::Eq,
        value,
    }
}

/// None of the bits of `mask` are set in argument `index`.
fn arg_clear(index: u8, mask: u64) -> Condition {
    Condition {
        index,
        len: SeccompCmpArgLen::Qword,
        op: SeccompCmpOp::MaskedEq(mask),
        value: 0,
    }
}

fn as_arg(value: libc::c_int) -> u64 {
    u64::from(value.unsigned_abs())
}

/// What every filtered thread does, whatever its job.
fn common() -> Vec<Rule> {
    let no_exec = as_arg(libc::PROT_EXEC);
    vec![
        // The allocator: glibc malloc grows its arenas with mmap/mprotect
        // and brk, gives memory back with munmap/madvise, and large Vecs
        // are reallocated with mremap. Never executable memory.
        allow_if(libc::SYS_mmap, vec![vec![arg_clear(2, no_exec)]]),
        allow_if(libc::SYS_mprotect, vec![vec![arg_clear(2, no_exec)]]),
        allow(libc::SYS_munmap),
        allow(libc::SYS_mremap),
        allow(libc::SYS_madvise),
        allow(libc::SYS_brk),
        // Mutexes, condvars and channels; the pause gate's waits.
        allow(libc::SYS_futex),
        allow(libc::SYS_sched_yield),
        allow(libc::SYS_nanosleep),
        allow(libc::SYS_clock_nanosleep),
        // Instant::now and log timestamps (the vDSO's fallback).
        allow(libc::SYS_clock_gettime),
        // std's HashMap seeds its hasher per thread.
        allow(libc::SYS_getrandom),
        // Returning from a signal handler (the vCPU kick, see vm.rs).
        allow(libc::SYS_rt_sigreturn),
        // std's stack-overflow guard: the thread's alternate signal stack
        // is taken down when the thread ends.
        allow(libc::SYS_sigaltstack),
        // A panic aborts: glibc's abort() masks signals and raises SIGABRT
        // at this thread (getpid, gettid, tgkill).
        allow(libc::SYS_rt_sigprocmask),
        allow(libc::SYS_getpid),
        allow(libc::SYS_gettid),
        allow_if(
            libc::SYS_tgkill,
            vec![vec![arg_eq(2, as_arg(libc::SIGABRT))]],
        ),
        // Log lines (tracing) go to stderr or the --log file.
        allow(libc::SYS_write),
        allow(libc::SYS_writev),
        // Dropping files and eventfds.
        allow(libc::SYS_close),
        allow(libc::SYS_exit),
        allow(libc::SYS_exit_group),
    ]
}

fn compile(kind: &'static str, rules: Vec<Rule>) -> Result<BpfProgram, SeccompError> {
    let build = || -> Result<BpfProgram, BackendError> {
        let mut map = BTreeMap::new();
        for (syscall, rules) in rules {
            let mut chain = Vec::with_capacity(rules.len());
            for conditions in rules {
                let conditions = conditions
                    .into_iter()
                    .map(|c| SeccompCondition::new(c.index, c.len, c.op, c.value))
                    .collect::<Result<Vec<_>, _>>()?;
                chain.push(SeccompRule::new(conditions)?);
            }
            map.insert(syscall, chain);
        }
        SeccompFilter::new(
            map,
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            TargetArch::x86_64,
        )?
        .try_into()
    };
    build().map_err(|e| SeccompError::Build(kind, e))
}

/// The filter of a vCPU thread (`vcpu::Vcpu::run`): `KVM_RUN` and what the
/// port and MMIO exit handlers do on this thread.
pub fn vcpu_filter() -> Result<BpfProgram, SeccompError> {
    compile("vCPU", vcpu_rules())
}

fn vcpu_rules() -> Vec<Rule> {
    let mut rules = common();
    rules.extend([
        // VcpuFd::run is the only ioctl this thread issues.
        allow_if(libc::SYS_ioctl, vec![vec![arg_eq(1, KVM_RUN())]]),
        // The serial console writes the guest's bytes to the console log
        // and raises its irqfd (write, in common); a virtio device's
        // activation clones the queue eventfds (File::try_clone is
        // fcntl(F_DUPFD_CLOEXEC)) and signals the event loop (write).
        allow_if(
            libc::SYS_fcntl,
            vec![vec![arg_eq(1, as_arg(libc::F_DUPFD_CLOEXEC))]],
        ),
    ]);
    rules
}

/// The filter of the device event loop ("vmm-events"): epoll, eventfds,
/// the vsock device's Unix sockets and virtio-fs's file work
/// (fuse-backend-rs 0.14's `PassthroughFs` behind `SecureFs`).
pub fn event_loop_filter() -> Result<BpfProgram, SeccompError> {
    compile("device event loop", event_loop_rules())
}

fn event_loop_rules() -> Vec<Rule> {
    let mut rules = common();
    rules.extend([
        // event-manager.
        allow(libc::SYS_epoll_wait),
        allow(libc::SYS_epoll_pwait),
        allow(libc::SYS_epoll_ctl),
        // eventfds, Unix streams and file data (read/readv, and
        // fuse-backend-rs's pread64/preadv64/pwrite64/pwritev64 for
        // READ and WRITE; write/writev are in common).
        allow(libc::SYS_read),
        allow(libc::SYS_readv),
        allow(libc::SYS_pread64),
        allow(libc::SYS_preadv),
        allow(libc::SYS_pwrite64),
        allow(libc::SYS_pwritev),
        // vsock: std's UnixStream reads with recv (recvfrom), the
        // connections send with send(MSG_NOSIGNAL) (sendto).
        allow(libc::SYS_recvfrom),
        allow(libc::SYS_sendto),
        // vsock: the host side's listener (accept4), guest-initiated
        // connections (socket + connect, AF_UNIX only), half-closes, and
        // set_nonblocking on accepted streams (ioctl FIONBIO).
        allow(libc::SYS_accept4),
        allow_if(
            libc::SYS_socket,
            vec![vec![arg_eq(0, as_arg(libc::AF_UNIX))]],
        ),
        allow(libc::SYS_connect),
        allow(libc::SYS_shutdown),
        allow_if(libc::SYS_ioctl, vec![vec![arg_eq(1, libc::FIONBIO)]]),
        // virtio-fs: fcntl (F_SETFL when reopening, F_DUPFD_CLOEXEC for
        // try_clone) and dup (FLUSH).
        allow(libc::SYS_fcntl),
        allow(libc::SYS_dup),
        // virtio-fs: opening (inodes are O_PATH fds, data is reopened
        // through /proc/self/fd), attributes, directories.
        allow(libc::SYS_openat),
        allow(libc::SYS_statx),
        allow(libc::SYS_newfstatat),
        allow(libc::SYS_fstat),
        allow(libc::SYS_getdents64),
        allow(libc::SYS_lseek),
        allow(libc::SYS_readlinkat),
        allow(libc::SYS_fstatfs),
        allow(libc::SYS_statfs),
        // virtio-fs: the mutating requests.
        allow(libc::SYS_mkdirat),
        allow(libc::SYS_mknodat),
        allow(libc::SYS_unlinkat),
        allow(libc::SYS_renameat2),
        allow(libc::SYS_linkat),
        allow(libc::SYS_symlinkat),
        allow(libc::SYS_fchmod),
        allow(libc::SYS_fchmodat),
        allow(libc::SYS_fchownat),
        allow(libc::SYS_utimensat),
        allow(libc::SYS_ftruncate),
        allow(libc::SYS_fallocate),
        allow(libc::SYS_fsync),
        allow(libc::SYS_fdatasync),
        // virtio-fs: xattrs. The passthrough uses the path variants on
        // /proc/self/fd/N; the fd and l* variants are the same operations.
        allow(libc::SYS_getxattr),
        allow(libc::SYS_setxattr),
        allow(libc::SYS_listxattr),
        allow(libc::SYS_removexattr),
        allow(libc::SYS_lgetxattr),
        allow(libc::SYS_lsetxattr),
        allow(libc::SYS_llistxattr),
        allow(libc::SYS_lremovexattr),
        allow(libc::SYS_fgetxattr),
        allow(libc::SYS_fsetxattr),
        allow(libc::SYS_flistxattr),
        allow(libc::SYS_fremovexattr),
        // virtio-fs: creating requests run with the requester's effective
        // ids (setres[ug]id(-1, id, -1), the real and saved ids stay), and
        // INIT/DESTROY give the thread its own umask (unshare(CLONE_FS)).
        allow_if(
            libc::SYS_setresuid,
            vec![vec![
                arg_eq(0, u64::from(u32::MAX)),
                arg_eq(2, u64::from(u32::MAX)),
            ]],
        ),
        allow_if(
            libc::SYS_setresgid,
            vec![vec![
                arg_eq(0, u64::from(u32::MAX)),
                arg_eq(2, u64::from(u32::MAX)),
            ]],
        ),
        allow_if(
            libc::SYS_unshare,
            vec![vec![arg_eq(0, as_arg(libc::CLONE_FS))]],
        ),
        allow(libc::SYS_umask),
        // Not allowed, deliberately: capget/capset (the passthrough drops
        // CAP_FSETID only with killpriv_v2, which SecureFs never enables),
        // name_to_handle_at/open_by_handle_at (inode_file_handles is off),
        // ioctl on files (FUSE_IOCTL is ENOSYS in the passthrough).
    ]);
    rules
}

/// The filter of a stdio relay thread of the monitor or an exec proxy
/// (`session.rs`): copies between a host fd (pipe, fifo, file or
/// terminal) and a Unix stream to the guest agent until either ends.
pub fn relay_filter() -> Result<BpfProgram, SeccompError> {
    compile("stdio relay", relay_rules())
}

fn relay_rules() -> Vec<Rule> {
    let mut rules = common();
    rules.extend([
        // Host fds are read with read; std's UnixStream reads with recv
        // (recvfrom). Writes are write (in common).
        allow(libc::SYS_read),
        allow(libc::SYS_recvfrom),
        allow(libc::SYS_sendto),
        // The stdin relay half-closes its stream when input ends.
        allow(libc::SYS_shutdown),
    ]);
    rules
}

/// The filter of the signal forwarder (`session.rs`): waits for the
/// blocked forwarded signals and sends each to the agent, with the host
/// terminal's size on SIGWINCH.
pub fn signal_forwarder_filter() -> Result<BpfProgram, SeccompError> {
    compile("signal forwarder", signal_forwarder_rules())
}

fn signal_forwarder_rules() -> Vec<Rule> {
    let mut rules = common();
    rules.extend([
        // sigwait.
        allow(libc::SYS_rt_sigtimedwait),
        // The host terminal's window size.
        allow_if(libc::SYS_ioctl, vec![vec![arg_eq(1, libc::TIOCGWINSZ)]]),
        // Requests to the agent over its Unix stream (write is in common).
        allow(libc::SYS_read),
        allow(libc::SYS_recvfrom),
        allow(libc::SYS_sendto),
    ]);
    rules
}

/// Installs `filter` on the calling thread; from then on it holds for
/// this thread and any thread it starts.
pub fn install(filter: &BpfProgram) -> Result<(), SeccompError> {
    seccompiler::apply_filter(filter).map_err(|e| {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        SeccompError::Install(name, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_compiles_for_x86_64() {
        for (kind, filter) in [
            ("vcpu", vcpu_filter()),
            ("events", event_loop_filter()),
            ("relay", relay_filter()),
            ("signals", signal_forwarder_filter()),
        ] {
            let filter = filter.unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(!filter.is_empty(), "{kind}: empty program");
        }
    }

    #[test]
    fn no_syscall_is_listed_twice() {
        // A second entry would silently replace the first in the filter.
        for (kind, rules) in [
            ("vcpu", vcpu_rules()),
            ("events", event_loop_rules()),
            ("relay", relay_rules()),
            ("signals", signal_forwarder_rules()),
        ] {
            let mut seen = std::collections::HashSet::new();
            for (syscall, _) in rules {
                assert!(
                    seen.insert(syscall),
                    "{kind}: syscall {syscall} listed twice"
                );
            }
        }
    }

    #[test]
    fn kvm_run_is_the_kernel_number() {
        // _IO(KVMIO, 0x80), as in <linux/kvm.h>.
        assert_eq!(KVM_RUN(), 0xae80);
    }

    /// Forks; the child installs `filter`, runs `then` and exits 0. Returns
    /// the child's wait status.
    fn in_filtered_child(filter: &BpfProgram, then: impl FnOnce()) -> libc::c_int {
        // SAFETY: the child only installs the filter, makes raw system
        // calls and leaves with _exit: nothing that needs the parent's
        // other threads (no allocation, no locks held by them).
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = match seccompiler::apply_filter(filter) {
                Ok(()) => {
                    then();
                    0
                }
                Err(_) => 2,
            };
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers or destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out pointer.
        let waited = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        assert_eq!(waited, pid);
        status
    }

    #[test]
    fn a_denied_syscall_kills_a_vcpu_thread_with_sigsys() {
        let filter = vcpu_filter().unwrap();
        let status = in_filtered_child(&filter, || {
            // SAFETY: getppid takes no arguments; it is not on the list.
            unsafe { libc::syscall(libc::SYS_getppid) };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);

        // An ioctl other than KVM_RUN is denied too.
        let status = in_filtered_child(&filter, || {
            let mut size = [0u16; 4];
            // SAFETY: TIOCGWINSZ writes a winsize into `size`, which is big
            // enough; it never gets that far under the filter.
            unsafe { libc::ioctl(2, libc::TIOCGWINSZ, size.as_mut_ptr()) };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);

        // So is executable memory.
        let status = in_filtered_child(&filter, || {
            // SAFETY: an anonymous mapping that is never used.
            unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_EXEC,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }

    #[test]
    fn allowed_syscalls_pass_the_vcpu_filter() {
        let filter = vcpu_filter().unwrap();
        let status = in_filtered_child(&filter, || {
            // SAFETY: an anonymous read/write mapping, unmapped again; an
            // ioctl KVM_RUN on stdin (not a vCPU: it fails with ENOTTY).
            unsafe {
                let map = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(map, libc::MAP_FAILED);
                libc::munmap(map, 4096);
                libc::ioctl(0, KVM_RUN());
                libc::syscall(libc::SYS_gettid);
            }
        });
        assert!(libc::WIFEXITED(status), "wait status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }

    #[test]
    fn the_event_loop_filter_checks_arguments() {
        let filter = event_loop_filter().unwrap();
        // A Unix socket is allowed, an inet one kills.
        let status = in_filtered_child(&filter, || {
            // SAFETY: socket(2) with constant arguments; the fd is closed.
            unsafe {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                libc::close(fd);
            }
        });
        assert!(libc::WIFEXITED(status), "wait status {status:#x}");
        let status = in_filtered_child(&filter, || {
            // SAFETY: as above.
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
        // Changing the real uid kills; the effective one is what fs needs.
        let status = in_filtered_child(&filter, || {
            // SAFETY: setresuid takes no pointers.
            unsafe { libc::syscall(libc::SYS_setresuid, 0, 0, 0) };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }
}
