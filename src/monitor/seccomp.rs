//! The seccomp filters of the monitor's own threads (see
//! `vmm::seccomp`, whose rules they build on): the stdio relays and the
//! signal forwarder of a session (in the monitor and in an exec relay),
//! and the control thread. The main thread, the container thread and the
//! "vm" thread run under the VMM's supervisor filter.

use vmm::seccomp::{
    allow, allow_if, arg_eq, as_arg, common, compile, supervisor_rules, unix_stream_rules,
    BpfProgram, Rule, SeccompError,
};

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
        // A non-blocking host fd (EAGAIN) is waited for, not given up on.
        allow(libc::SYS_poll),
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

/// The control thread: serves `runvm` commands on the control socket
/// (start, kill, pause, resume, exec's processes, ps, events, update),
/// passes requests on to the agent, runs startContainer hooks in the
/// guest (their output read on threads it starts), kicks vCPUs for pause,
/// records status changes, and ends the process when a container that
/// never started is killed.
pub fn control_filter() -> Result<BpfProgram, SeccompError> {
    compile("control", control_rules())
}

fn control_rules() -> Vec<Rule> {
    let mut rules = supervisor_rules();
    // The control socket's clients, and new streams to the agent.
    rules.extend(unix_stream_rules());
    rules.extend([
        // Threads for a guest hook's output and wait (std::thread::spawn:
        // glibc's pthread_create, the new thread's robust list, rseq and
        // name). No execve: a forked copy could only run this code.
        allow(libc::SYS_clone),
        allow(libc::SYS_clone3),
        allow(libc::SYS_set_robust_list),
        allow(libc::SYS_rseq),
        // std's thread start reads its stack (pthread_getattr_np, which
        // fills in the CPU affinity too).
        allow(libc::SYS_sched_getaffinity),
        allow_if(
            libc::SYS_prctl,
            vec![vec![arg_eq(0, as_arg(libc::PR_SET_NAME))]],
        ),
    ]);
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm::seccomp::testing::{
        assert_well_formed, in_child_reporting_as, in_filtered_child, in_reporting_child,
    };

    #[test]
    fn every_filter_compiles_and_lists_each_syscall_once() {
        assert_well_formed(vec![
            ("relay", relay_rules()),
            ("signals", signal_forwarder_rules()),
            ("control", control_rules()),
        ]);
    }

    #[test]
    fn the_control_thread_can_start_and_join_threads() {
        let filter = control_filter().unwrap();
        let (status, report) = in_reporting_child(&filter, || {
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = std::thread::spawn(move || {
                let _ = tx.send(7);
                7
            });
            assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)), Ok(7));
            assert_eq!(reader.join().unwrap(), 7);
        });
        assert!(libc::WIFEXITED(status), "wait status {status:#x}: {report}");
    }

    #[test]
    fn a_denial_is_reported_before_the_sigsys() {
        let filter = control_filter().unwrap();
        for (json, line) in [
            (false, "level=error msg=\"seccomp denied system call N\"\n"),
            (
                true,
                "{\"level\":\"error\",\"msg\":\"seccomp denied system call N\"}\n",
            ),
        ] {
            let (status, report) = in_child_reporting_as(&filter, json, || {
                // SAFETY: getppid takes no arguments; it is not on the list.
                unsafe { libc::syscall(libc::SYS_getppid) };
            });
            assert!(libc::WIFSIGNALED(status), "wait status {status:#x}");
            assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
            assert_eq!(report, line.replace('N', &libc::SYS_getppid.to_string()));
        }
    }

    #[test]
    fn a_relay_can_wait_for_a_non_blocking_fd() {
        let filter = relay_filter().unwrap();
        let mut fds = [0; 2];
        // SAFETY: pipe writes two fds into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let status = in_filtered_child(&filter, || {
            let mut writable = libc::pollfd {
                fd: fds[1],
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: poll reads and writes the one pollfd it is given;
            // an empty pipe is writable at once.
            unsafe { libc::poll(&raw mut writable, 1, -1) };
        });
        // SAFETY: closes the two fds pipe gave us, which nothing else owns.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert!(libc::WIFEXITED(status), "wait status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
