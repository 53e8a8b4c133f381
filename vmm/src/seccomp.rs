//! Per-thread seccomp filters: how they are built and installed, and those
//! of the VMM's own threads. The monitor's other threads (stdio relays,
//! signal forwarder, control) have theirs in runvm's `monitor::seccomp`,
//! built from the rules here.
//!
//! Each kind of thread gets an allow list of the system calls it makes;
//! anything else kills the whole process with `SIGSYS`: a guest that
//! steers a device handler into an unexpected system call ends its VM
//! instead of reaching the host kernel. The programs are built once, before the threads start, and each
//! thread installs its own with [`confine`] before it touches guest data,
//! dropping the capabilities it does not need (see [`ThreadCaps`]).
//! Filtered: the vCPU threads, the device event loop ("vmm-events"), the
//! thread that waits for the VM to stop ("vm") and the monitor's
//! supervising threads (its main thread, and its container thread once
//! the container runs), with the monitor's own filters its stdio relays,
//! signal forwarder and control thread. No filter allows `execve`: the host's
//! OCI hooks run from the setup phase (prestart, createRuntime) and from
//! the `start` and `delete` commands (poststart, poststop), never from a
//! filtered thread.
//!
//! A denied call raises `SIGSYS` (`SeccompAction::Trap`); with
//! [`report_denials_to`] the monitor's handler writes the call's number
//! to the log first, then the process dies of that `SIGSYS`.
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
    #[error("dropping the capabilities of thread {0}")]
    Caps(String, #[source] caps::errors::CapsError),
    #[error("installing the SIGSYS reporter")]
    Reporter(#[source] std::io::Error),
}

/// A system call and the argument checks that allow it: one of the rules
/// (each a conjunction of conditions) must hold; no rules allow it with
/// any arguments.
pub type Rule = (i64, Vec<Vec<Condition>>);

pub fn allow(syscall: i64) -> Rule {
    (syscall, Vec::new())
}

pub fn allow_if(syscall: i64, rules: Vec<Vec<Condition>>) -> Rule {
    (syscall, rules)
}

/// One argument check, turned into a `SeccompCondition` by [`compile`].
pub struct Condition {
    index: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
}

/// Argument `index` (as the kernel reads it, 32 bits) equals `value`.
pub fn arg_eq(index: u8, value: u64) -> Condition {
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

/// A flag or constant as a filter compares it.
pub fn as_arg(value: libc::c_int) -> u64 {
    u64::from(value.unsigned_abs())
}

/// What every filtered thread does, whatever its job.
pub fn common() -> Vec<Rule> {
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
        // The denial reporter re-raises SIGSYS the same way.
        allow_if(
            libc::SYS_tgkill,
            vec![
                vec![arg_eq(2, as_arg(libc::SIGABRT))],
                vec![arg_eq(2, as_arg(libc::SIGSYS))],
            ],
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

/// Unix stream sockets: accepting on a listener, connecting (AF_UNIX
/// only), half-closing.
pub fn unix_stream_rules() -> [Rule; 4] {
    [
        allow(libc::SYS_accept4),
        allow_if(
            libc::SYS_socket,
            vec![vec![arg_eq(0, as_arg(libc::AF_UNIX))]],
        ),
        allow(libc::SYS_connect),
        allow(libc::SYS_shutdown),
    ]
}

/// The program that allows `rules` and kills with `SIGSYS` on anything
/// else; `kind` names it in errors.
pub fn compile(kind: &'static str, rules: Vec<Rule>) -> Result<BpfProgram, SeccompError> {
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
            SeccompAction::Trap,
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
/// the vsock device's Unix sockets, virtio-net's taps and virtio-fs's file work
/// (fuse-backend-rs 0.14's `PassthroughFs` behind `SecureFs`).
pub fn event_loop_filter() -> Result<BpfProgram, SeccompError> {
    compile("device event loop", event_loop_rules())
}

fn event_loop_rules() -> Vec<Rule> {
    let mut rules = common();
    rules.extend(unix_stream_rules());
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
        // vsock: set_nonblocking on accepted streams (ioctl FIONBIO); its
        // listener, guest-initiated connections and half-closes are
        // unix_stream_rules. virtio-net: on activation, the tap's offloads
        // follow what the driver accepted (ioctl TUNSETOFFLOAD); frames
        // are read and written with read and write.
        allow_if(
            libc::SYS_ioctl,
            vec![
                vec![arg_eq(1, libc::FIONBIO)],
                vec![arg_eq(1, libc::TUNSETOFFLOAD)],
            ],
        ),
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

/// What the monitor's supervising threads do once setup is over: the main
/// thread waits for the container process and the "vm" thread for the VM
/// to stop; either records the final status in `state.json` (a temporary
/// file renamed over it), may read the console log for a report, restores
/// a host terminal's settings, and ends the process the way the container
/// ended (`monitor::mirror_exit` re-raises its signal at itself).
pub fn supervisor_filter() -> Result<BpfProgram, SeccompError> {
    compile("supervisor", supervisor_rules())
}

pub fn supervisor_rules() -> Vec<Rule> {
    let mut rules = common();
    // The common tgkill rule is narrower; the supervisor raises any signal,
    // at its own process only.
    rules.retain(|(syscall, _)| *syscall != libc::SYS_tgkill);
    let own_pid = u64::from(std::process::id());
    rules.extend([
        allow_if(libc::SYS_tgkill, vec![vec![arg_eq(0, own_pid)]]),
        allow(libc::SYS_rt_sigaction),
        // Requests to the agent over its Unix stream.
        allow(libc::SYS_read),
        allow(libc::SYS_recvfrom),
        allow(libc::SYS_sendto),
        // state.json and the console log; `runvm boot` removes its runtime
        // directory (remove_dir_all reads it with getdents64).
        allow(libc::SYS_openat),
        allow(libc::SYS_getdents64),
        allow(libc::SYS_fstat),
        allow(libc::SYS_statx),
        allow(libc::SYS_newfstatat),
        allow(libc::SYS_lseek),
        allow(libc::SYS_fsync),
        allow(libc::SYS_rename),
        allow(libc::SYS_renameat),
        allow(libc::SYS_renameat2),
        allow(libc::SYS_unlink),
        allow(libc::SYS_unlinkat),
        // fdopendir (remove_dir_all) checks the fd's flags and sets
        // close-on-exec; try_clone.
        allow_if(
            libc::SYS_fcntl,
            vec![
                vec![arg_eq(1, as_arg(libc::F_GETFL))],
                vec![arg_eq(1, as_arg(libc::F_GETFD))],
                vec![arg_eq(1, as_arg(libc::F_SETFD))],
                vec![arg_eq(1, as_arg(libc::F_DUPFD_CLOEXEC))],
            ],
        ),
        // Restoring the host terminal's settings (tcsetattr).
        allow_if(
            libc::SYS_ioctl,
            vec![
                vec![arg_eq(1, libc::TCGETS)],
                vec![arg_eq(1, libc::TCSETS)],
                vec![arg_eq(1, libc::TCSETSW)],
                vec![arg_eq(1, libc::TCSETSF)],
            ],
        ),
    ]);
    rules
}

/// Where [`report_denials_to`] writes, or -1 before it is called.
static DENIAL_REPORT_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// Whether the report is a JSON log line.
static DENIAL_REPORT_JSON: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Makes a denied system call write an error line saying
/// `seccomp denied system call N` to `fd` before the process dies of
/// `SIGSYS`, so the log says which call a filter lacks: a JSON line
/// (`{"level":"error","msg":...}`, as runc's logs, which callers parse)
/// with `json`, else logrus's text (`level=error msg="..."`). Neither has
/// a time: a signal handler cannot format one. `fd` must stay open for
/// the life of the process.
pub fn report_denials_to(fd: std::os::fd::RawFd, json: bool) -> Result<(), SeccompError> {
    DENIAL_REPORT_FD.store(fd, std::sync::atomic::Ordering::Relaxed);
    DENIAL_REPORT_JSON.store(json, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is a valid value; every field used is set
    // below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = report_denial as *const () as usize;
    // Reset to the default (death) after the first report; not blocked in
    // the handler, so its own raise kills at once.
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND | libc::SA_NODEFER;
    // SAFETY: installs a handler that only makes async-signal-safe system
    // calls; `action` is a valid sigaction and the old one is not wanted.
    let result = unsafe { libc::sigaction(libc::SIGSYS, &raw const action, std::ptr::null_mut()) };
    if result != 0 {
        return Err(SeccompError::Reporter(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// The number of the denied call: `si_syscall`, the int after
/// `si_call_addr` in the `_sigsys` member of `siginfo_t` (byte 24).
const SI_SYSCALL_OFFSET: usize = 24;

extern "C" fn report_denial(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    const MESSAGE: &[u8] = b"seccomp denied system call ";
    let (start, end): (&[u8], &[u8]) =
        if DENIAL_REPORT_JSON.load(std::sync::atomic::Ordering::Relaxed) {
            (b"{\"level\":\"error\",\"msg\":\"", b"\"}\n")
        } else {
            (b"level=error msg=\"", b"\"\n")
        };
    // SAFETY: the kernel passes a whole siginfo_t for a SIGSYS from
    // seccomp; the syscall number is an aligned i32 inside it.
    let syscall = unsafe {
        info.cast::<u8>()
            .add(SI_SYSCALL_OFFSET)
            .cast::<i32>()
            .read()
    };
    // Formatted by hand: nothing that allocates or locks in a handler.
    let mut line = [0u8; 96];
    let mut len = 0;
    for part in [start, MESSAGE] {
        line[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    let mut digits = [0u8; 10];
    let mut count = 0;
    let mut rest = syscall.unsigned_abs();
    while count < digits.len() {
        digits[count] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for digit in digits[..count].iter().rev() {
        line[len] = *digit;
        len += 1;
    }
    line[len..len + end.len()].copy_from_slice(end);
    len += end.len();
    let fd = DENIAL_REPORT_FD.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: write, getpid, gettid and tgkill are async-signal-safe and
    // allowed by every filter; `line` outlives the write.
    unsafe {
        libc::write(fd, line.as_ptr().cast(), len);
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::gettid(),
            libc::SIGSYS,
        );
    }
}

/// The capabilities a thread keeps once confined. Capabilities are per
/// thread: each drops its own, so one that needs none (a vCPU, a relay,
/// the control thread) holds none, whatever the monitor was started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadCaps {
    /// None at all.
    None,
    /// The virtio-fs server's: acting for the guest's users on the share
    /// (their effective ids, owners, modes, FIFOs, file capabilities, and
    /// the security.* and trusted.* xattrs, which the kernel guards with
    /// CAP_SYS_ADMIN; the thread's filter allows no mount, namespace or
    /// other administrative call to use it for).
    FileServer,
}

impl ThreadCaps {
    fn set(self) -> caps::CapsHashSet {
        use caps::Capability::*;
        match self {
            ThreadCaps::None => caps::CapsHashSet::new(),
            ThreadCaps::FileServer => [
                CAP_CHOWN,
                CAP_DAC_OVERRIDE,
                CAP_DAC_READ_SEARCH,
                CAP_FOWNER,
                CAP_FSETID,
                CAP_SETGID,
                CAP_SETUID,
                CAP_MKNOD,
                CAP_SETFCAP,
                CAP_SYS_ADMIN,
            ]
            .into_iter()
            .collect(),
        }
    }
}

/// Confines the calling thread: it keeps only `keep` of the capabilities
/// it has, then installs `filter`; both hold for it and any thread it
/// starts.
pub fn confine(filter: &BpfProgram, keep: ThreadCaps) -> Result<(), SeccompError> {
    let name = || std::thread::current().name().unwrap_or("?").to_owned();
    drop_caps(keep).map_err(|e| SeccompError::Caps(name(), e))?;
    seccompiler::apply_filter(filter).map_err(|e| SeccompError::Install(name(), e))
}

fn drop_caps(keep: ThreadCaps) -> Result<(), caps::errors::CapsError> {
    use caps::CapSet;
    // A monitor started without some of them (not as root) keeps fewer.
    let permitted = caps::read(None, CapSet::Permitted)?;
    let keep: caps::CapsHashSet = keep.set().intersection(&permitted).copied().collect();
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    // Effective first: it must stay within the permitted set.
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)
}

/// Running a filter in a forked child, for tests here and in other crates.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::{compile, report_denials_to, BpfProgram, Rule};

    /// Asserts that each rule list compiles to a program and lists no
    /// system call twice (a second entry would silently replace the first
    /// in the filter).
    pub fn assert_well_formed(lists: Vec<(&'static str, Vec<Rule>)>) {
        for (kind, rules) in lists {
            let mut seen = std::collections::HashSet::new();
            for (syscall, _) in &rules {
                assert!(
                    seen.insert(*syscall),
                    "{kind}: syscall {syscall} listed twice"
                );
            }
            let filter = compile(kind, rules).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert!(!filter.is_empty(), "{kind}: empty program");
        }
    }

    /// Forks; the child installs `filter`, runs `then` and exits 0. Returns
    /// the child's wait status.
    pub fn in_filtered_child(filter: &BpfProgram, then: impl FnOnce()) -> libc::c_int {
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

    /// Like [`in_filtered_child`], with the denial reporter writing to a
    /// pipe: returns the wait status and what was reported.
    pub fn in_reporting_child(filter: &BpfProgram, then: impl FnOnce()) -> (libc::c_int, String) {
        in_child_reporting_as(filter, false, then)
    }

    /// Like [`in_reporting_child`], with the report as a JSON line if `json`.
    pub fn in_child_reporting_as(
        filter: &BpfProgram,
        json: bool,
        then: impl FnOnce(),
    ) -> (libc::c_int, String) {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both fds are new and owned by nothing else.
        let (read, write) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        };
        let status = in_filtered_child(filter, || {
            if report_denials_to(fds[1], json).is_ok() {
                then();
            }
        });
        drop(write);
        let mut report = String::new();
        std::io::Read::read_to_string(&mut { read }, &mut report).unwrap();
        (status, report)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn every_filter_compiles_and_lists_each_syscall_once() {
        assert_well_formed(vec![
            ("vcpu", vcpu_rules()),
            ("events", event_loop_rules()),
            ("supervisor", supervisor_rules()),
        ]);
    }

    #[test]
    fn kvm_run_is_the_kernel_number() {
        // _IO(KVMIO, 0x80), as in <linux/kvm.h>.
        assert_eq!(KVM_RUN(), 0xae80);
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
    fn the_supervisor_can_record_state_and_remove_a_directory() {
        let dir = std::env::temp_dir().join(format!("runvm-supervisor-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/file"), b"x").unwrap();
        let filter = supervisor_filter().unwrap();
        let (status, report) = in_reporting_child(&filter, || {
            let tmp = dir.join(".state.json.1");
            let mut file = std::fs::File::create(&tmp).unwrap();
            std::io::Write::write_all(&mut file, b"{}").unwrap();
            file.sync_all().unwrap();
            std::fs::rename(&tmp, dir.join("state.json")).unwrap();
            assert_eq!(
                std::fs::read_to_string(dir.join("state.json")).unwrap(),
                "{}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        });
        let _ = std::fs::remove_dir_all(&dir);
        assert!(libc::WIFEXITED(status), "wait status {status:#x}: {report}");
    }

    #[test]
    fn a_confined_thread_keeps_only_its_capabilities() {
        let before = caps::read(None, caps::CapSet::Permitted).unwrap();
        for keep in [ThreadCaps::None, ThreadCaps::FileServer] {
            // SAFETY: fork; the child only drops capabilities, reads them
            // back and leaves with _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let expected: caps::CapsHashSet =
                    keep.set().intersection(&before).copied().collect();
                let ok = drop_caps(keep).is_ok()
                    && caps::read(None, caps::CapSet::Permitted).ok() == Some(expected.clone())
                    && caps::read(None, caps::CapSet::Effective).ok() == Some(expected);
                // SAFETY: _exit ends the child without running destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid out pointer.
            assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "{keep:?}: {status:#x}"
            );
        }
    }

    #[test]
    fn the_supervisor_filter_signals_its_own_process_only() {
        let filter = supervisor_filter().unwrap();
        // Built in this process: the forked child is another pid, so even
        // a harmless signal 0 to itself is outside the rule.
        let status = in_filtered_child(&filter, || {
            // SAFETY: tgkill with signal 0 only checks that the target exists.
            unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), 0) };
        });
        assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
        // exec is on no list.
        let status = in_filtered_child(&filter, || {
            // SAFETY: execve with null argv/envp on a constant path; it
            // never runs under the filter.
            unsafe { libc::execve(c"/bin/true".as_ptr(), std::ptr::null(), std::ptr::null()) };
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
    fn the_event_loop_filter_allows_what_virtio_net_does_with_its_tap() {
        use virtio::net::{Backend, Tap};
        // The tap lives in a network namespace of its own thread's.
        let tap = std::thread::spawn(|| {
            // SAFETY: unshare takes no pointers; it moves only this thread.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            Tap::open("rvseccomp0").unwrap()
        })
        .join()
        .unwrap();
        let filter = event_loop_filter().unwrap();
        let status = in_filtered_child(&filter, move || {
            let mut tap = tap;
            // Activation: the offloads the driver took.
            tap.set_offload(libc::TUN_F_CSUM | libc::TUN_F_TSO4)
                .unwrap();
            // rx: nothing queued yet.
            let mut frame = [0u8; 12 + 60];
            let read = tap.read_frame(&mut frame).unwrap_err();
            assert_eq!(read.kind(), std::io::ErrorKind::WouldBlock);
            // tx: a frame (the interface is down: the kernel may refuse it,
            // but the call is made).
            let _ = tap.write_frame(&frame);
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "wait status {status:#x}"
        );
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
        // TUNSETOFFLOAD is the one tap ioctl allowed: not TUNSETIFF (which
        // would make another interface).
        let status = in_filtered_child(&filter, || {
            // SAFETY: TUNSETOFFLOAD on stdin (not a tap: it fails with
            // ENOTTY or EBADFD) takes its argument by value.
            unsafe { libc::ioctl(0, libc::TUNSETOFFLOAD, 0) };
        });
        assert!(libc::WIFEXITED(status), "wait status {status:#x}");
        let status = in_filtered_child(&filter, || {
            // SAFETY: TUNSETIFF on stdin with a null pointer; it never gets
            // that far under the filter.
            unsafe { libc::ioctl(0, libc::TUNSETIFF, std::ptr::null_mut::<libc::ifreq>()) };
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
