//! Turning an OCI process spec into a running process, as runc applies it.
//!
//! [`Spec::new`] validates everything it can up front and prepares what the
//! child needs, so that the code running between fork and exec
//! ([`Setup::apply`]) only makes system calls: no allocation, no locks.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use oci_spec::runtime::{IOPriorityClass, PosixRlimitType, Process};

use super::caps::{self, CapSets};
use super::container::Container;
use super::describe;
use super::pidns::{self, Entry, ProcRemount};
use super::reaper::{self, OnExit};
use super::resolve;
use super::seccomp;
use super::sys::check;

/// Where a program is looked up when the process's env has no PATH; also
/// the agent's own PATH when the kernel gave init none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What is wrong with a process spec.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("process.args is empty")]
    NoArgs,
    #[error("process.{0} contains a NUL byte")]
    Nul(&'static str),
    #[error("process.env entry {0:?} is not KEY=VALUE")]
    Env(String),
    #[error("process.cwd {0} is not absolute")]
    RelativeCwd(PathBuf),
    #[error("cwd {0} does not exist")]
    MissingCwd(PathBuf),
    #[error("cwd {0} is not a directory")]
    CwdNotDirectory(PathBuf),
    #[error("cwd {0} goes through a /proc magic link")]
    CwdMagicLink(PathBuf),
    #[error("cwd {path}: {}", describe(*.errno))]
    Cwd { path: PathBuf, errno: Errno },
    #[error("process.consoleSize {0}x{1} is too large")]
    ConsoleSize(u64, u64),
    #[error("process.rlimits: {0} soft limit exceeds hard limit")]
    Rlimit(PosixRlimitType),
    #[error("process.oomScoreAdj {0} is outside -1000..=1000")]
    OomScoreAdj(i32),
    #[error("process.ioPriority.priority {0} is outside 0..=7")]
    IoPriority(i64),
    #[error("process.{0} is not supported")]
    Unsupported(&'static str),
}

/// Why a process did not start.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("exec {0}: no such file or directory")]
    NotFound(String),
    #[error("exec {program}: {}", describe(*.errno))]
    Exec { program: String, errno: Errno },
    #[error("process setup failed at {step}: {}", describe(*.errno))]
    Setup { step: &'static str, errno: Errno },
    #[error("spawning: {}", describe(*.0))]
    Spawn(Errno),
    #[error(transparent)]
    PidNamespace(#[from] pidns::Error),
}

/// A validated process spec, ready to spawn.
#[derive(Debug)]
pub struct Spec {
    /// args[0], the program as the spec names it.
    arg0: String,
    /// The other args.
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// PATH to look `arg0` up in.
    path: String,
    cwd: PathBuf,
    /// The container the process runs in; None: the agent's own root.
    container: Option<Arc<Container>>,
    /// Window size (rows, cols) of the pty, if the process has one.
    pub terminal: Option<Option<(u16, u16)>>,
    setup: Setup,
}

impl Spec {
    /// Whether the process runs in `container`.
    pub fn runs_in(&self, container: &Arc<Container>) -> bool {
        self.container
            .as_ref()
            .is_some_and(|own| Arc::ptr_eq(own, container))
    }

    /// Validates `process`, to run in `container` if there is one (paths
    /// are then the container's).
    pub fn new(process: &Process, container: Option<Arc<Container>>) -> Result<Self, SpecError> {
        let mut args = process.args().clone().unwrap_or_default().into_iter();
        let arg0 = args.next().ok_or(SpecError::NoArgs)?;
        let args: Vec<String> = args.collect();
        if arg0.contains('\0') || args.iter().any(|arg| arg.contains('\0')) {
            return Err(SpecError::Nul("args"));
        }
        let mut env = Vec::new();
        for entry in process.env().iter().flatten() {
            if entry.contains('\0') {
                return Err(SpecError::Nul("env"));
            }
            let (key, value) = entry
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .ok_or_else(|| SpecError::Env(entry.clone()))?;
            env.push((key.to_owned(), value.to_owned()));
        }
        let path = env
            .iter()
            .rev()
            .find(|(key, _)| key == "PATH")
            .map_or(DEFAULT_PATH, |(_, value)| value)
            .to_owned();

        let cwd = process.cwd().clone();
        if cwd.as_os_str().as_bytes().contains(&0) {
            return Err(SpecError::Nul("cwd"));
        }
        if !cwd.is_absolute() {
            return Err(SpecError::RelativeCwd(cwd));
        }
        let enter = match &container {
            Some(container) => {
                let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
                match resolve::open_in(container.root(), &cwd, flags) {
                    Ok(_) => {}
                    Err(Errno::ENOENT) => return Err(SpecError::MissingCwd(cwd)),
                    Err(Errno::ENOTDIR) => return Err(SpecError::CwdNotDirectory(cwd)),
                    Err(Errno::EXDEV) => return Err(SpecError::CwdMagicLink(cwd)),
                    Err(errno) => return Err(SpecError::Cwd { path: cwd, errno }),
                }
                Some(Enter {
                    namespace: container.namespace().as_raw_fd(),
                    uts: container.uts().map(|fd| fd.as_raw_fd()),
                    ipc: container.ipc().map(|fd| fd.as_raw_fd()),
                    user: container.user().map(|fd| fd.as_raw_fd()),
                    new_cgroup_namespace: false,
                    root: container.root().as_raw_fd(),
                    cwd: resolve::cstring(&cwd).map_err(|_| SpecError::Nul("cwd"))?,
                    cgroup_procs: container.cgroup().map(|cgroup| cgroup.procs_fd()),
                })
            }
            None => {
                match fs::metadata(&cwd) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(SpecError::CwdNotDirectory(cwd)),
                    Err(_) => return Err(SpecError::MissingCwd(cwd)),
                }
                None
            }
        };

        let terminal = if process.terminal().unwrap_or(false) {
            let size = process
                .console_size()
                .map(|size| {
                    let (rows, cols) = (size.height(), size.width());
                    u16::try_from(rows)
                        .ok()
                        .zip(u16::try_from(cols).ok())
                        .ok_or(SpecError::ConsoleSize(rows, cols))
                })
                .transpose()?;
            Some(size)
        } else {
            None
        };

        let mut rlimits = Vec::new();
        for rlimit in process.rlimits().iter().flatten() {
            if rlimit.soft() > rlimit.hard() {
                return Err(SpecError::Rlimit(rlimit.typ()));
            }
            let limit = libc::rlimit {
                rlim_cur: rlimit.soft(),
                rlim_max: rlimit.hard(),
            };
            rlimits.push((resource(rlimit.typ()), limit));
        }

        let oom_score_adj = process
            .oom_score_adj()
            .map(|score| {
                if (-1000..=1000).contains(&score) {
                    Ok(score.to_string().into_bytes())
                } else {
                    Err(SpecError::OomScoreAdj(score))
                }
            })
            .transpose()?;

        let io_priority = process
            .io_priority()
            .map(|io| {
                let class = match io.class() {
                    IOPriorityClass::IoprioClassRt => 1,
                    IOPriorityClass::IoprioClassBe => 2,
                    IOPriorityClass::IoprioClassIdle => 3,
                };
                match i32::try_from(io.priority()) {
                    Ok(priority @ 0..=7) => Ok(class << IOPRIO_CLASS_SHIFT | priority),
                    _ => Err(SpecError::IoPriority(io.priority())),
                }
            })
            .transpose()?;
        // Refused rather than ignored: the process would silently run
        // differently from what was asked.
        if process.scheduler().is_some() {
            return Err(SpecError::Unsupported("scheduler"));
        }
        if process.exec_cpu_affinity().is_some() {
            return Err(SpecError::Unsupported("execCPUAffinity"));
        }

        let user = process.user();
        let groups = user.additional_gids().clone().unwrap_or_default();
        let setup = Setup {
            terminal: terminal.is_some(),
            enter,
            rlimits,
            oom_score_adj,
            io_priority,
            umask: user.umask(),
            uid: user.uid(),
            gid: user.gid(),
            groups: (!same_groups(&groups)).then_some(groups),
            // No `capabilities` object means none, as under runc (not the
            // agent's own full set).
            caps: match process.capabilities() {
                Some(spec) => caps::from_spec(spec, caps::last_cap()),
                None => CapSets {
                    last_cap: caps::last_cap(),
                    ..CapSets::default()
                },
            },
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            seccomp: container.as_ref().and_then(|c| c.seccomp().cloned()),
            remount_proc: None,
        };
        Ok(Spec {
            arg0,
            args,
            env,
            path,
            cwd,
            container,
            terminal,
            setup,
        })
    }

    /// The root of the container the process runs in, if any.
    pub fn container_root(&self) -> Option<BorrowedFd<'_>> {
        self.container.as_ref().map(|container| container.root())
    }

    /// Spawns the process with `stdio` as its fds 0, 1 and 2; `on_exit`
    /// gets its status. Returns its pid.
    pub fn spawn(
        &self,
        stdio: [OwnedFd; 3],
        on_exit: OnExit,
        is_init: bool,
    ) -> Result<i32, SpawnError> {
        let arg0 = &self.arg0;
        let root = self.container_root();
        let program = lookup(arg0, &self.path, &self.cwd, root)
            .ok_or_else(|| SpawnError::NotFound(arg0.clone()))?;
        let [stdin, stdout, stderr] = stdio;
        let mut command = Command::new(program);
        command
            .arg0(arg0)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::from(stdin))
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr));
        if self.container.is_none() {
            // In a container, Setup::apply changes directory once inside.
            command.current_dir(&self.cwd);
        }

        // The child tells which setup step failed through this pipe; std
        // only passes the errno back.
        let (failed_step, report) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(SpawnError::Spawn)?;
        let mut setup = self.setup.clone();
        let report_fd = report.as_raw_fd();
        // In a container: held until the init's namespace is recorded.
        let spawning = self.container.as_ref().map(|c| c.made_by_init().spawning());
        let wanted = self.container.as_ref().map(|c| c.init_namespaces());
        let entry = spawning
            .as_ref()
            .map(|s| s.entry(is_init, wanted.is_some_and(|w| w.pid)))
            .transpose()?;
        let creating = matches!(entry, Some(Entry::Create { .. }));
        if creating {
            // The init: PID 1 of a new namespace mounts its /proc, and it
            // makes the cgroup namespace once in the container's cgroup.
            setup.remount_proc = self.container.clone();
            if let Some(enter) = &mut setup.enter {
                enter.new_cgroup_namespace = wanted.is_some_and(|w| w.cgroup);
            }
        }
        // SAFETY: the closure runs in the forked child before exec; it only
        // reads data prepared before the fork and makes async-signal-safe
        // system calls (Setup::apply).
        unsafe {
            command.pre_exec(move || setup.apply(report_fd));
        }
        let spawned = match &entry {
            None | Some(Entry::Outside) => reaper::spawn(&mut command, on_exit)
                .map(|pid| (pid, None))
                .map_err(SpawnAttempt::Io),
            // The fork must come from a thread whose children enter the
            // namespace; that thread ends right after.
            Some(entry) => reaper::start().map_err(SpawnAttempt::Io).and_then(|()| {
                thread::scope(|scope| {
                    thread::Builder::new()
                        .name("spawn".into())
                        .spawn_scoped(scope, || {
                            pidns::enter(entry)?;
                            match reaper::spawn(&mut command, on_exit) {
                                Ok(pid) => {
                                    let made = wanted
                                        .filter(|_| creating)
                                        .and_then(|w| pidns::created(pid, w.pid, w.cgroup));
                                    Ok((pid, made))
                                }
                                Err(error) => {
                                    Err(SpawnAttempt::Io(pidns::spawn_error(entry, error)?))
                                }
                            }
                        })
                        .map_err(SpawnAttempt::Io)?
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
            }),
        };
        let (spawned, namespace) = match spawned {
            Ok((pid, namespace)) => (Ok(pid), namespace),
            Err(attempt) => (Err(attempt), None),
        };
        // Releases the namespace for later spawns. Without one (the init
        // failed or is gone already) none of them can run: fail closed,
        // never outside the namespace the init should have had.
        if let (Some(spawning), true) = (spawning, creating) {
            spawning.record(namespace);
        }
        let spawned = match spawned {
            Err(SpawnAttempt::Namespace(error)) => return Err(error.into()),
            Err(SpawnAttempt::Io(error)) => Err(error),
            Ok(pid) => Ok(pid),
        };
        drop(command);
        drop(report);
        spawned.map_err(|error| {
            let errno = super::errno_of(&error);
            let mut step = [0u8; 1];
            match nix::unistd::read(failed_step.as_raw_fd(), &mut step) {
                Ok(1) => SpawnError::Setup {
                    step: Step::name(step[0]),
                    errno,
                },
                _ => SpawnError::Exec {
                    program: arg0.clone(),
                    errno,
                },
            }
        })
    }
}

/// How a spawn failed before it could report a setup step.
#[derive(Debug)]
enum SpawnAttempt {
    Namespace(pidns::Error),
    Io(std::io::Error),
}

impl From<pidns::Error> for SpawnAttempt {
    fn from(error: pidns::Error) -> Self {
        SpawnAttempt::Namespace(error)
    }
}

/// What the child does between fork and exec, in runc's order.
#[derive(Clone, Debug)]
struct Setup {
    terminal: bool,
    /// The container to enter, if any.
    enter: Option<Enter>,
    rlimits: Vec<(ResourceId, libc::rlimit)>,
    /// The score as decimal text, ready to write.
    oom_score_adj: Option<Vec<u8>>,
    /// For ioprio_set: class << IOPRIO_CLASS_SHIFT | priority.
    io_priority: Option<i32>,
    umask: Option<u32>,
    uid: u32,
    gid: u32,
    /// None when the agent's supplementary groups are already the ones
    /// asked for (setgroups needs privilege even then).
    groups: Option<Vec<u32>>,
    caps: CapSets,
    no_new_privileges: bool,
    /// The container's seccomp filters, installed last before exec.
    seccomp: Option<seccomp::Filters>,
    /// For the container's init: the container whose /proc it mounts
    /// again, in its new PID namespace.
    remount_proc: Option<Arc<Container>>,
}

/// What entering a container takes; the descriptors are the container's,
/// which the spec keeps alive.
#[derive(Clone, Debug)]
struct Enter {
    namespace: RawFd,
    /// The container's UTS and IPC namespaces, if it has its own.
    uts: Option<RawFd>,
    ipc: Option<RawFd>,
    /// The container's user namespace, joined last: entering the others
    /// and mounting /proc need the agent's privileges.
    user: Option<RawFd>,
    /// For the init: make the container's cgroup namespace, rooted at its
    /// cgroup, once in it.
    new_cgroup_namespace: bool,
    root: RawFd,
    cwd: CString,
    /// The container cgroup's cgroup.procs, open for writing.
    cgroup_procs: Option<RawFd>,
}

#[cfg(target_env = "gnu")]
type ResourceId = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type ResourceId = libc::c_int;

/// The setup steps, numbered for the report pipe.
#[derive(Clone, Copy)]
enum Step {
    Setsid,
    Tty,
    Rlimit,
    OomScoreAdj,
    IoPriority,
    Enter,
    Cwd,
    Bounding,
    KeepCaps,
    Setgroups,
    Setgid,
    Setuid,
    Capset,
    NoNewPrivileges,
    Cgroup,
    Seccomp,
    Proc,
    Namespaces,
}

impl Step {
    const ALL: [Step; 18] = [
        Step::Setsid,
        Step::Tty,
        Step::Rlimit,
        Step::OomScoreAdj,
        Step::IoPriority,
        Step::Enter,
        Step::Cwd,
        Step::Bounding,
        Step::KeepCaps,
        Step::Setgroups,
        Step::Setgid,
        Step::Setuid,
        Step::Capset,
        Step::NoNewPrivileges,
        Step::Cgroup,
        Step::Seccomp,
        Step::Proc,
        Step::Namespaces,
    ];

    fn name(number: u8) -> &'static str {
        match Self::ALL.get(usize::from(number)) {
            Some(Step::Setsid) => "setsid",
            Some(Step::Tty) => "controlling terminal",
            Some(Step::Rlimit) => "rlimits",
            Some(Step::OomScoreAdj) => "oom_score_adj",
            Some(Step::IoPriority) => "ioprio_set",
            Some(Step::Enter) => "entering the container",
            Some(Step::Cwd) => "cwd",
            Some(Step::Bounding) => "capability bounding set",
            Some(Step::KeepCaps) => "keepcaps",
            Some(Step::Setgroups) => "setgroups",
            Some(Step::Setgid) => "setgid",
            Some(Step::Setuid) => "setuid",
            Some(Step::Capset) => "capabilities",
            Some(Step::NoNewPrivileges) => "no_new_privileges",
            Some(Step::Cgroup) => "joining the container cgroup",
            Some(Step::Seccomp) => "linux.seccomp",
            Some(Step::Proc) => "mounting /proc in the container's PID namespace",
            Some(Step::Namespaces) => "entering the container's namespaces",
            None => "unknown step",
        }
    }
}

impl Setup {
    /// Runs in the child. On failure, writes the step's number to `report`.
    fn apply(&self, report: RawFd) -> std::io::Result<()> {
        self.steps().map_err(|(step, errno)| {
            let number = [step as u8];
            // SAFETY: writes one byte from a live stack buffer; a failure
            // only loses the step name.
            unsafe { libc::write(report, number.as_ptr().cast(), 1) };
            std::io::Error::from_raw_os_error(errno)
        })
    }

    fn steps(&self) -> Result<(), (Step, i32)> {
        let at = |step| move |errno| (step, errno);
        // SAFETY: plain system calls on integers or on pointers to data
        // owned by `self` or this stack frame, valid for the duration of
        // each call; the same holds for every call below.
        check(unsafe { libc::setsid() }).map_err(at(Step::Setsid))?;
        crate::timing::drop_inherited_permission();
        if self.terminal {
            // SAFETY: see above.
            check(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }).map_err(at(Step::Tty))?;
        }
        for (resource, limit) in &self.rlimits {
            // SAFETY: see above.
            check(unsafe { libc::setrlimit(*resource, limit) }).map_err(at(Step::Rlimit))?;
        }
        if let Some(score) = &self.oom_score_adj {
            write_oom_score_adj(score).map_err(at(Step::OomScoreAdj))?;
        }
        if let Some(priority) = self.io_priority {
            // SAFETY: see above.
            let rc =
                unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, priority) };
            check(rc as i32).map_err(at(Step::IoPriority))?;
        }
        if let Some(enter) = &self.enter {
            let remount = self.remount_proc.as_ref().and_then(|c| c.proc_remount());
            enter.apply(remount)?;
        }
        if let Some(mask) = self.umask {
            // SAFETY: see above; umask cannot fail.
            unsafe { libc::umask(mask) };
        }
        // runc's order: a privileged process installs the filters before it
        // changes user and capabilities (so the profile must allow those
        // calls); with no_new_privs they go last, as any process may then.
        if !self.no_new_privileges {
            self.install_seccomp()?;
        }
        caps::drop_bounding(&self.caps).map_err(at(Step::Bounding))?;
        caps::keep_caps(true).map_err(at(Step::KeepCaps))?;
        if let Some(groups) = &self.groups {
            // SAFETY: see above.
            check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })
                .map_err(at(Step::Setgroups))?;
        }
        // SAFETY: see above.
        check(unsafe { libc::setgid(self.gid) }).map_err(at(Step::Setgid))?;
        // SAFETY: see above.
        check(unsafe { libc::setuid(self.uid) }).map_err(at(Step::Setuid))?;
        caps::keep_caps(false).map_err(at(Step::KeepCaps))?;
        caps::set(&self.caps).map_err(at(Step::Capset))?;
        if self.no_new_privileges {
            // SAFETY: see above.
            check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
                .map_err(at(Step::NoNewPrivileges))?;
            self.install_seccomp()?;
        }
        Ok(())
    }

    fn install_seccomp(&self) -> Result<(), (Step, i32)> {
        match &self.seccomp {
            Some(filters) => seccomp::install(filters).map_err(|errno| (Step::Seccomp, errno)),
            None => Ok(()),
        }
    }
}

impl Enter {
    /// Joins the container's mount namespace, which also makes its root
    /// ours, mounts its /proc again for the init (`remount`), and changes
    /// to the cwd resolved inside it (never through a magic link, even if
    /// the container changed it since validation). The remount comes
    /// first: a cwd in the old /proc would keep it, masks and all gone.
    fn apply(&self, remount: Option<&ProcRemount>) -> Result<(), (Step, i32)> {
        if let Some(procs) = self.cgroup_procs {
            // "0": the writing process itself.
            // SAFETY: writes one byte from a static string to a descriptor
            // the container keeps open.
            let written = unsafe { libc::write(procs, c"0".as_ptr().cast(), 1) };
            if written != 1 {
                return Err((Step::Cgroup, Errno::last_raw()));
            }
        }
        let namespaces = |errno| (Step::Namespaces, errno);
        if self.new_cgroup_namespace {
            // SAFETY: a plain system call on a constant.
            check(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) }).map_err(namespaces)?;
        }
        for (fd, kind) in [
            (self.uts, libc::CLONE_NEWUTS),
            (self.ipc, libc::CLONE_NEWIPC),
        ] {
            if let Some(fd) = fd {
                // SAFETY: a plain system call on a descriptor the spec keeps
                // open.
                check(unsafe { libc::setns(fd, kind) }).map_err(namespaces)?;
            }
        }
        // SAFETY: plain system calls on descriptors the spec keeps open.
        check(unsafe { libc::setns(self.namespace, libc::CLONE_NEWNS) })
            .map_err(|errno| (Step::Enter, errno))?;
        if let Some(remount) = remount {
            remount.apply().map_err(|errno| (Step::Proc, errno))?;
        }
        if let Some(user) = self.user {
            // SAFETY: a plain system call on a descriptor the spec keeps open.
            check(unsafe { libc::setns(user, libc::CLONE_NEWUSER) })
                .map_err(|errno| (Step::Namespaces, errno))?;
        }
        let flags = libc::O_PATH | libc::O_DIRECTORY;
        let mut fd = resolve::openat2_in_root(self.root, &self.cwd, flags);
        for _ in 0..16 {
            // EAGAIN: a rename raced the lookup; the kernel asks to retry.
            if fd >= 0 || Errno::last() != Errno::EAGAIN {
                break;
            }
            fd = resolve::openat2_in_root(self.root, &self.cwd, flags);
        }
        check(fd).map_err(|errno| (Step::Cwd, errno))?;
        // SAFETY: changes to and closes the descriptor opened just above.
        let changed = check(unsafe { libc::fchdir(fd) });
        // SAFETY: see above.
        unsafe { libc::close(fd) };
        changed.map_err(|errno| (Step::Cwd, errno))
    }
}

/// linux/ioprio.h
const IOPRIO_CLASS_SHIFT: i32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// Writes `score` (decimal text) to /proc/self/oom_score_adj.
fn write_oom_score_adj(score: &[u8]) -> Result<(), i32> {
    let path = c"/proc/self/oom_score_adj";
    // SAFETY: open reads the NUL-terminated path, a static string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    check(fd)?;
    // SAFETY: write reads `score.len()` bytes of `score`, which is alive.
    let written = unsafe { libc::write(fd, score.as_ptr().cast(), score.len()) };
    let result = if written < 0 {
        Err(Errno::last_raw())
    } else {
        Ok(())
    };
    // SAFETY: closes the descriptor opened above, used by nothing else.
    unsafe { libc::close(fd) };
    result
}

/// True if the agent's supplementary groups are exactly `groups`.
fn same_groups(groups: &[u32]) -> bool {
    let Ok(current) = nix::unistd::getgroups() else {
        return false;
    };
    let mut current: Vec<u32> = current.into_iter().map(|gid| gid.as_raw()).collect();
    let mut wanted = groups.to_vec();
    current.sort_unstable();
    current.dedup();
    wanted.sort_unstable();
    wanted.dedup();
    current == wanted
}

/// Finds `arg0` in `path` (directories relative to the process's `cwd`),
/// as execvp would with the process's own environment; inside `root` if
/// given.
fn lookup(arg0: &str, path: &str, cwd: &Path, root: Option<BorrowedFd>) -> Option<PathBuf> {
    if arg0.contains('/') {
        return Some(PathBuf::from(arg0));
    }
    if arg0.is_empty() {
        return None;
    }
    path.split(':')
        .map(|dir| cwd.join(if dir.is_empty() { "." } else { dir }).join(arg0))
        .find(|candidate| is_executable(candidate, root))
}

fn is_executable(path: &Path, root: Option<BorrowedFd>) -> bool {
    match root {
        None => fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0),
        Some(root) => resolve::open_in(root, path, OFlag::O_PATH)
            .and_then(|fd| nix::sys::stat::fstat(fd.as_raw_fd()))
            .is_ok_and(|stat| {
                stat.st_mode & libc::S_IFMT == libc::S_IFREG && stat.st_mode & 0o111 != 0
            }),
    }
}

fn resource(typ: PosixRlimitType) -> ResourceId {
    match typ {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}
