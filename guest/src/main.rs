//! PID 1 inside the runvm microVM.
//!
//! For now it brings up the basic filesystems, reports that the guest is
//! ready along with the CPUs and memory it sees, and powers the VM off with
//! its exit status through [`proto::EXIT_PORT`]. If the VM has a vsock
//! device, it serves the host's agent requests instead until the host ends
//! the VM (see [`agent`]).

mod agent;
mod timing;

use std::fs;
use std::io::{self, Write};
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::reboot::RebootMode;
use nix::sys::stat::Mode;
use proto::timing::GuestStage;

const CONSOLE: &str = "/dev/console";
const STDIO_FDS: [i32; 3] = [0, 1, 2];

#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("mounting {target}")]
    Mount {
        target: &'static str,
        #[source]
        source: Errno,
    },
    #[error("opening {CONSOLE}")]
    OpenConsole(#[source] Errno),
    #[error("attaching {CONSOLE} to stdio")]
    AttachConsole(#[source] Errno),
    #[error("writing to the console")]
    Console(#[source] io::Error),
    #[error("reading {path}")]
    Read {
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("no MemTotal in /proc/meminfo")]
    NoMemTotal,
    #[error("linking /dev/ptmx to pts/ptmx")]
    Ptmx(#[source] io::Error),
    #[error("listening on vsock port {}", proto::agent::AGENT_PORT)]
    Agent(#[source] Errno),
    #[error("bringing loopback up")]
    Loopback(#[source] rtnl::Error),
    #[error("no loopback link")]
    NoLoopback,
}

fn main() {
    let status = match run() {
        Ok(()) => 0,
        Err(error) => {
            report(&error);
            1
        }
    };
    power_off(status)
}

fn run() -> Result<(), InitError> {
    timing::mark(GuestStage::InitStart);
    mount_devtmpfs()?;
    attach_console_if_missing()?;
    mount("proc", "/proc", "proc")?;
    mount("sysfs", "/sys", "sysfs")?;
    // The agent makes the container's cgroup here.
    mount("cgroup2", "/sys/fs/cgroup", "cgroup2")?;
    mount_process_dirs()?;
    loopback_up()?;
    say("runvm-init: ready")?;

    let cpuinfo = read("/proc/cpuinfo")?;
    let meminfo = read("/proc/meminfo")?;
    let cpus = count_processors(&cpuinfo);
    let mem_total_kib = parse_mem_total_kib(&meminfo).ok_or(InitError::NoMemTotal)?;
    say(&format!(
        "runvm-init: cpus={cpus} mem_total_kib={mem_total_kib}"
    ))?;
    if agent::vsock_present() {
        serve_agent()?;
    }
    Ok(())
}

/// Serves the host's agent requests; only the host ends this, by ending
/// the VM (or by asking for `Shutdown`).
fn serve_agent() -> Result<(), InitError> {
    let port = proto::agent::AGENT_PORT;
    let listener = agent::Listener::vsock(port).map_err(InitError::Agent)?;
    if std::env::var_os("PATH").is_none() {
        // Still single-threaded: nothing else reads the environment now.
        std::env::set_var("PATH", agent::DEFAULT_PATH);
    }
    timing::mark(GuestStage::AgentListening);
    say(&format!("runvm-init: agent listening on vsock port {port}"))?;
    agent::Agent::new(Box::new(|status| power_off(status))).serve(&listener)
}

/// Brings `lo` up, as runc does in a container's new network namespace:
/// the container has the guest's.
fn loopback_up() -> Result<(), InitError> {
    let mut rtnl = rtnl::Rtnl::open().map_err(InitError::Loopback)?;
    let lo = rtnl
        .link("lo")
        .map_err(InitError::Loopback)?
        .ok_or(InitError::NoLoopback)?;
    rtnl.set_up(lo.index).map_err(InitError::Loopback)
}

/// Mounts devtmpfs on /dev unless the kernel already did (DEVTMPFS_MOUNT).
fn mount_devtmpfs() -> Result<(), InitError> {
    match mount("devtmpfs", "/dev", "devtmpfs") {
        Err(InitError::Mount {
            source: Errno::EBUSY,
            ..
        }) => Ok(()),
        other => other,
    }
}

/// What the agent's processes expect: ptys (a private devpts, with
/// /dev/ptmx pointing into it), /dev/shm and a tmpfs /tmp.
fn mount_process_dirs() -> Result<(), InitError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let options = "newinstance,ptmxmode=0666,mode=0620";
    mount_with("devpts", "/dev/pts", "devpts", flags, Some(options))?;
    match fs::remove_file("/dev/ptmx") {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(InitError::Ptmx(error)),
    }
    std::os::unix::fs::symlink("pts/ptmx", "/dev/ptmx").map_err(InitError::Ptmx)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_with("shm", "/dev/shm", "tmpfs", flags, Some("mode=1777"))?;
    mount_with("tmpfs", "/tmp", "tmpfs", flags, Some("mode=1777"))
}

fn mount(source: &str, target: &'static str, fstype: &str) -> Result<(), InitError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount_with(source, target, fstype, flags, None)
}

fn mount_with(
    source: &str,
    target: &'static str,
    fstype: &str,
    flags: MsFlags,
    options: Option<&str>,
) -> Result<(), InitError> {
    // The initramfs ships these directories; creating them keeps init working
    // with a hand-made archive that does not.
    match nix::unistd::mkdir(target, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(source) => return Err(InitError::Mount { target, source }),
    }
    nix::mount::mount(Some(source), target, Some(fstype), flags, options)
        .map_err(|source| InitError::Mount { target, source })
}

/// The kernel gives init /dev/console as stdio only if the node exists when
/// init starts; otherwise Rust's runtime has put /dev/null there. Now that
/// devtmpfs is up, make sure messages reach the console.
fn attach_console_if_missing() -> Result<(), InitError> {
    if nix::unistd::isatty(1).unwrap_or(false) {
        return Ok(());
    }
    let console = nix::fcntl::open(CONSOLE, OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty())
        .map_err(InitError::OpenConsole)?;
    for fd in STDIO_FDS {
        nix::unistd::dup2(console, fd).map_err(InitError::AttachConsole)?;
    }
    if !STDIO_FDS.contains(&console) {
        // Nothing to do if closing fails: the descriptor is just leaked.
        let _ = nix::unistd::close(console);
    }
    Ok(())
}

fn say(line: &str) -> Result<(), InitError> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(InitError::Console)
}

fn read(path: &'static str) -> Result<String, InitError> {
    fs::read_to_string(path).map_err(|source| InitError::Read { path, source })
}

/// Prints `runvm-init: error: <what failed>: <cause>: ...` on stderr.
fn report(error: &InitError) {
    let mut message = format!("runvm-init: error: {error}");
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        message.push_str(&format!(": {inner}"));
        cause = inner.source();
    }
    // If even stderr fails there is no one left to tell; the status says it.
    let _ = writeln!(io::stderr().lock(), "{message}");
}

/// Ends the VM with `status`; never returns, as PID 1 must not exit.
fn power_off(status: u8) -> ! {
    drain_console();
    let port = proto::EXIT_PORT;
    // SAFETY: ioperm only changes this process's I/O permission bitmap; it
    // touches no memory of ours.
    let granted = unsafe { libc::ioperm(libc::c_ulong::from(port), 1, 1) } == 0;
    if granted {
        // SAFETY: a byte written to the VMM's exit port stops the VM (see
        // proto::EXIT_PORT); the instruction reads and writes no memory.
        unsafe {
            std::arch::asm!(
                "out dx, al",
                in("dx") port,
                in("al") status,
                options(nomem, nostack, preserves_flags)
            );
        }
    }
    // The VMM did not stop us (no exit port): a reset ends the VM all the same,
    // only without the status.
    let _ = nix::sys::reboot::reboot(RebootMode::RB_AUTOBOOT);
    loop {
        nix::unistd::pause();
    }
}

/// Waits until the UART has sent what we wrote: the tty layer queues output
/// and sends it from interrupts, which stop once the VM is off.
fn drain_console() {
    for fd in [io::stdout().as_fd(), io::stderr().as_fd()] {
        // Not a tty (ENOTTY) means nothing is queued; otherwise there is
        // nothing better to do than power off anyway.
        let _ = nix::sys::termios::tcdrain(fd);
    }
}

/// The number of "processor" entries in /proc/cpuinfo: one per online CPU.
fn count_processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|line| {
            line.split_once(':')
                .is_some_and(|(key, _)| key.trim() == "processor")
        })
        .count()
}

/// MemTotal from /proc/meminfo, in KiB (the file says "kB" but means KiB).
fn parse_mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let value = line.strip_prefix("MemTotal:")?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU\n\n\
                           processor\t: 1\nvendor_id\t: AuthenticAMD\n\n";

    #[test]
    fn counts_processor_entries() {
        assert_eq!(count_processors(CPUINFO), 2);
    }

    #[test]
    fn ignores_lines_that_only_mention_processor() {
        let text = "model name\t: processor 9000\nprocessors\t: 4\nprocessor\t: 0\n";
        assert_eq!(count_processors(text), 1);
        assert_eq!(count_processors(""), 0);
    }

    #[test]
    fn parses_mem_total() {
        let meminfo = "MemTotal:         500212 kB\nMemFree:          480000 kB\n";
        assert_eq!(parse_mem_total_kib(meminfo), Some(500212));
    }

    #[test]
    fn mem_total_missing_or_malformed() {
        assert_eq!(parse_mem_total_kib("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total_kib("MemTotal: lots kB\n"), None);
        assert_eq!(parse_mem_total_kib("MemTotal: 12\n"), None);
    }
}
