//! `linux.seccomp`: the container's seccomp profile, compiled to BPF when
//! the container is created and installed in each of its processes just
//! before exec (runc's order: before the user and capabilities change
//! unless `noNewPrivileges`, which lets an unprivileged process install
//! it, puts it last).
//!
//! An OCI profile gives each syscall entry its own action, which one
//! seccompiler filter (one match action, one mismatch action) cannot
//! express. So the profile becomes a stack of filters, and the kernel
//! runs them all and keeps the most restrictive answer:
//! - the default filter allows a call that some entry matches (any action)
//!   and answers `defaultAction` to the rest (left out when that is ALLOW);
//! - one filter per other action answers that action to the calls its
//!   entries match, and allows the rest.
//!
//! A call one entry matches thus gets that entry's action; a call no entry
//! matches gets the default. Each filter is installed by a seccomp(2) call
//! the ones before it must allow, so the one filter that may refuse it
//! goes last; a profile where two may is refused. Names this architecture (x86_64) has no
//! syscall for are skipped, as libseccomp and runc skip them (profiles
//! list other architectures' calls). SCMP_ACT_NOTIFY needs a listener
//! runvm does not have: refused.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// EPERM: what SCMP_ACT_ERRNO returns without errnoRet.
const DEFAULT_ERRNO: u32 = 1;

/// Why a profile cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("linux.seccomp: SCMP_ACT_NOTIFY is not supported (no seccomp listener)")]
    Notify,
    #[error("linux.seccomp: listenerPath is not supported")]
    Listener,
    #[error("linux.seccomp: syscall {name}: {problem}")]
    Rule { name: String, problem: String },
    #[error("linux.seccomp: {0}")]
    Compile(String),
}

/// Per syscall number, the rules that match it; None: it matches
/// unconditionally.
type RulesBySyscall = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// A compiled profile: the filters to install, in order, with the
/// seccomp(2) flags the profile asks for.
#[derive(Debug)]
pub struct Compiled {
    programs: Vec<BpfProgram>,
    flags: libc::c_ulong,
}

/// A compiled profile, shared by the container's processes.
pub type Filters = Arc<Compiled>;

fn flag(flag: LinuxSeccompFilterFlag) -> libc::c_ulong {
    match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        // The child that installs the filters has one thread.
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
    }
}

fn action(action: LinuxSeccompAction, errno_ret: Option<u32>) -> Result<SeccompAction, Error> {
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => {
            SeccompAction::Errno(errno_ret.unwrap_or(DEFAULT_ERRNO))
        }
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActTrace => {
            SeccompAction::Trace(errno_ret.unwrap_or(DEFAULT_ERRNO))
        }
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => return Err(Error::Notify),
    })
}

fn condition(arg: &LinuxSeccompArg) -> Result<SeccompCondition, String> {
    let index = u8::try_from(arg.index()).map_err(|_| format!("arg index {}", arg.index()))?;
    let operator = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
        LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
        LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
        LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
        LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
        LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
        // libseccomp's order: the mask first, the value it must give next.
        LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(arg.value()),
    };
    let value = match arg.op() {
        LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
        _ => arg.value(),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, operator, value)
        .map_err(|e| e.to_string())
}

/// The calls an entry matches, as rules (any of which matches): None
/// matches unconditionally. Its conditions must all hold, except that, as
/// in runc, conditions on the same argument are alternatives: each is a
/// rule of its own then.
fn rules(entry: &LinuxSyscall, name: &str) -> Result<Option<Vec<SeccompRule>>, Error> {
    let problem = |problem: String| Error::Rule {
        name: name.to_owned(),
        problem,
    };
    let args = entry.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Ok(None);
    }
    let conditions: Vec<SeccompCondition> = args
        .iter()
        .map(condition)
        .collect::<Result<_, _>>()
        .map_err(problem)?;
    let mut indexes: Vec<usize> = args.iter().map(LinuxSeccompArg::index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    let groups = if indexes.len() < args.len() {
        conditions.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conditions]
    };
    let rules = groups
        .into_iter()
        .map(|group| SeccompRule::new(group).map_err(|e| problem(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(Some(rules))
}

/// Adds `rules` to `number`'s chain; an unconditional match (an empty
/// chain, in seccompiler's terms) stays unconditional.
fn add(chains: &mut RulesBySyscall, number: i64, rules: Option<Vec<SeccompRule>>) {
    let chain = chains.entry(number).or_insert_with(|| Some(Vec::new()));
    match (chain.as_mut(), rules) {
        (Some(chain), Some(rules)) => chain.extend(rules),
        (_, None) => *chain = None,
        (None, Some(_)) => {}
    }
}

/// Whether a call that `action` answers does not run.
fn refuses(action: &SeccompAction) -> bool {
    !matches!(action, SeccompAction::Allow | SeccompAction::Log)
}

/// Syscall numbers with this bit set are the x32 ABI's: they pass the
/// x86_64 architecture check, so a filter refuses them before anything
/// else, as libseccomp's do.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `program` with the x32 ABI refused right after its architecture check.
fn refusing_x32(mut program: BpfProgram) -> BpfProgram {
    // seccompiler's programs start with the 3-instruction arch check.
    let at = program.len().min(3);
    let insns = [
        // A = seccomp_data.nr (BPF_LD | BPF_W | BPF_ABS, offset 0)
        seccompiler::sock_filter {
            code: 0x20,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // A >= X32_SYSCALL_BIT (BPF_JMP | BPF_JGE | BPF_K): on to the
        // kill, else past it
        seccompiler::sock_filter {
            code: 0x35,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        // BPF_RET | BPF_K
        seccompiler::sock_filter {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
    ];
    program.splice(at..at, insns);
    program
}

fn filter(
    rules: RulesBySyscall,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, Error> {
    let rules = rules
        .into_iter()
        .map(|(number, chain)| (number, chain.unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
        .map_err(|e| Error::Compile(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| Error::Compile(e.to_string()))
}

/// Compiles `profile` into the filters to install; None when it allows
/// everything.
pub fn compile(profile: &LinuxSeccomp) -> Result<Option<Filters>, Error> {
    if profile.listener_path().is_some() {
        return Err(Error::Listener);
    }
    let default = action(profile.default_action(), profile.default_errno_ret())?;
    // Per syscall: the rules of every entry (the default filter), and per
    // action the rules of its entries.
    let mut any_entry = RulesBySyscall::new();
    let mut by_action: Vec<(SeccompAction, RulesBySyscall)> = Vec::new();
    for entry in profile.syscalls().as_deref().unwrap_or_default() {
        let entry_action = action(entry.action(), entry.errno_ret())?;
        for name in entry.names() {
            let Ok(number) = syscalls::Sysno::from_str(name) else {
                continue;
            };
            let number = i64::from(number.id());
            let entry_rule = rules(entry, name)?;
            add(&mut any_entry, number, entry_rule.clone());
            if entry_action != SeccompAction::Allow {
                let index = match by_action.iter().position(|(a, _)| *a == entry_action) {
                    Some(index) => index,
                    None => {
                        by_action.push((entry_action.clone(), RulesBySyscall::new()));
                        by_action.len() - 1
                    }
                };
                add(&mut by_action[index].1, number, entry_rule);
            }
        }
    }
    // Each filter is installed with seccomp(2), which the filters already
    // installed must allow: the one that may refuse it goes last.
    let seccomp_nr = i64::from(syscalls::Sysno::seccomp.id());
    let mut compiled = Vec::new();
    for (entry_action, rules) in by_action {
        let blocks_seccomp = refuses(&entry_action) && rules.contains_key(&seccomp_nr);
        compiled.push((
            filter(rules, SeccompAction::Allow, entry_action)?,
            blocks_seccomp,
        ));
    }
    if default != SeccompAction::Allow {
        // It allows seccomp(2) only if an entry matches it unconditionally.
        let blocks_seccomp = refuses(&default) && !matches!(any_entry.get(&seccomp_nr), Some(None));
        compiled.push((
            filter(any_entry, default, SeccompAction::Allow)?,
            blocks_seccomp,
        ));
    }
    if compiled.iter().filter(|(_, blocks)| *blocks).count() > 1 {
        return Err(Error::Compile(
            "rules restrict seccomp(2) itself in more than one action, which runvm's \
             stacked filters cannot install"
                .into(),
        ));
    }
    compiled.sort_by_key(|(_, blocks_seccomp)| *blocks_seccomp);
    let programs: Vec<BpfProgram> = compiled
        .into_iter()
        .map(|(program, _)| refusing_x32(program))
        .collect();
    let flags = profile
        .flags()
        .iter()
        .flatten()
        .fold(0, |flags, f| flags | flag(*f));
    Ok((!programs.is_empty()).then(|| Arc::new(Compiled { programs, flags })))
}

/// `struct sock_fprog` (linux/filter.h).
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const seccompiler::sock_filter,
}

/// Installs `filters` on the calling thread, without no_new_privs (which
/// the process spec decides): async-signal-safe, for the forked child.
/// Returns the errno of a failure.
pub fn install(filters: &Compiled) -> Result<(), i32> {
    for program in &filters.programs {
        let program = SockFprog {
            len: u16::try_from(program.len()).map_err(|_| libc::E2BIG)?,
            filter: program.as_ptr(),
        };
        // SAFETY: the kernel copies the program `program` points to, which
        // lives for the duration of the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                filters.flags,
                &raw const program,
            )
        };
        if rc != 0 {
            return Err(nix::errno::Errno::last_raw());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(json).unwrap()
    }

    /// Runs `body` in a forked child under `filters` (with no_new_privs,
    /// so no privilege is needed) and returns its wait status.
    fn in_child_under(filters: &Compiled, body: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child runs `body` and _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // SAFETY: plain prctl on integers.
                unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                let code = match install(filters) {
                    Ok(()) => body(),
                    Err(_) => 100,
                };
                // SAFETY: ends the child without the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let mut status = 0;
                // SAFETY: waits for the child forked above.
                unsafe { libc::waitpid(child.as_raw(), &mut status, 0) };
                status
            }
        }
    }

    fn errno_of(rc: libc::c_long) -> i32 {
        if rc < 0 {
            nix::errno::Errno::last_raw()
        } else {
            0
        }
    }

    /// getppid's errno (0 if it succeeded) as the child's exit code.
    fn getppid_errno() -> i32 {
        // SAFETY: getppid takes no arguments.
        errno_of(unsafe { libc::syscall(libc::SYS_getppid) })
    }

    /// umask(mask) by syscall: its errno, 0 if it succeeded.
    fn umask_errno(mask: u32) -> i32 {
        // SAFETY: umask takes an integer.
        errno_of(unsafe { libc::syscall(libc::SYS_umask, mask) })
    }

    #[test]
    fn an_allow_everything_profile_installs_nothing() {
        let allow = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"}));
        assert!(compile(&allow).unwrap().is_none());
    }

    #[test]
    fn a_blocked_call_gets_its_errno_and_the_rest_runs() {
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        })))
        .unwrap()
        .unwrap();
        assert_eq!(
            libc::WEXITSTATUS(in_child_under(&filters, getppid_errno)),
            13
        );
        assert_eq!(
            libc::WEXITSTATUS(in_child_under(&filters, || umask_errno(0o22))),
            0
        );
    }

    #[test]
    fn the_default_action_answers_what_no_entry_matches() {
        // An allow list, as docker's default profile is: what it lists runs
        // (exit_group and what the child needs to get there), the rest is
        // EPERM.
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["exit", "exit_group", "umask", "not_a_syscall", "socketcall"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        })))
        .unwrap()
        .unwrap();
        assert_eq!(
            libc::WEXITSTATUS(in_child_under(&filters, || umask_errno(0))),
            0
        );
        assert_eq!(
            libc::WEXITSTATUS(in_child_under(&filters, getppid_errno)),
            38
        );
        let getpid = || {
            // SAFETY: getpid takes no arguments.
            errno_of(unsafe { libc::syscall(libc::SYS_getpid) })
        };
        assert_eq!(
            libc::WEXITSTATUS(in_child_under(&filters, getpid)),
            libc::EPERM
        );
    }

    #[test]
    fn conditions_pick_the_calls_an_entry_matches() {
        // umask(0777) is EINVAL; masks without the group-write bit are
        // allowed (a mask condition); other masks match no entry.
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                 "args": [{"index": 0, "value": 511, "op": "SCMP_CMP_EQ"}]},
                {"names": ["umask"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 16, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}
            ]
        })))
        .unwrap()
        .unwrap();
        let run = |mask| libc::WEXITSTATUS(in_child_under(&filters, || umask_errno(mask)));
        assert_eq!(run(0o777), libc::EINVAL);
        assert_eq!(run(0o7), 0);
        // No entry matches 0o22 (group write set, not 0o777): the default.
        assert_eq!(run(0o22), libc::EPERM);
    }

    #[test]
    fn conditions_on_the_same_argument_are_alternatives() {
        // As runc reads them: umask(0777) or umask(0700).
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                "args": [{"index": 0, "value": 511, "op": "SCMP_CMP_EQ"},
                         {"index": 0, "value": 448, "op": "SCMP_CMP_EQ"}]}]
        })))
        .unwrap()
        .unwrap();
        let run = |mask| libc::WEXITSTATUS(in_child_under(&filters, || umask_errno(mask)));
        assert_eq!(run(0o777), libc::EINVAL);
        assert_eq!(run(0o700), libc::EINVAL);
        assert_eq!(run(0o22), 0);
    }

    #[test]
    fn x32_calls_are_killed_even_under_an_allow_default() {
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
        })))
        .unwrap()
        .unwrap();
        let x32_getppid = || {
            let number = libc::SYS_getppid | libc::c_long::from(X32_SYSCALL_BIT);
            // SAFETY: a call number with no arguments.
            errno_of(unsafe { libc::syscall(number) })
        };
        let status = in_child_under(&filters, x32_getppid);
        assert!(libc::WIFSIGNALED(status), "status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }

    #[test]
    fn kill_process_ends_the_process_with_sigsys() {
        let filters = compile(&profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]
        })))
        .unwrap()
        .unwrap();
        let status = in_child_under(&filters, getppid_errno);
        assert!(libc::WIFSIGNALED(status), "status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }

    #[test]
    fn what_runvm_cannot_do_is_refused_by_name() {
        let notify = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(compile(&notify)
            .unwrap_err()
            .to_string()
            .contains("SCMP_ACT_NOTIFY"));
        let listener = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/listener.sock"
        }));
        assert!(compile(&listener)
            .unwrap_err()
            .to_string()
            .contains("listenerPath"));
        let bad_index = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["umask"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }));
        let message = compile(&bad_index).unwrap_err().to_string();
        assert!(message.contains("syscall umask"), "{message}");
        // Both the default (seccomp only conditionally matched) and the
        // ERRNO filter may refuse the next filter's installation.
        let seccomp_twice = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["seccomp"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }));
        let message = compile(&seccomp_twice).unwrap_err().to_string();
        assert!(message.contains("seccomp(2)"), "{message}");
    }
}
