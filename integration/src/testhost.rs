//! The nested test host: a Linux under QEMU TCG whose /dev/kvm is real, for
//! machines whose own /dev/kvm cannot boot runvm's guests. One boot runs a
//! list of scripts; the results come back over the serial console.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use xtask::cpio::Archive;

use crate::artifacts::Artifacts;
use crate::console::ConsoleLog;
use crate::process::{lines_in_background, read_to_end_in_background};
use crate::scripts::{self, Script, ScriptEnv, ScriptExit, ScriptRun};
use crate::{ldd, Error, Result};

/// Set to copy the test host's console to stderr as it runs.
pub const SHOW_CONSOLE_VAR: &str = "RUNVM_E2E_CONSOLE";

const INIT_SCRIPT: &str = include_str!("../testhost/init.sh");
/// What the test host's init prints before it runs a script once more: the
/// script failed while KVM's trace held a nested guest's triple fault.
pub const RERUN_NOTE: &str = "runvm-testhost: running it once more, from a fresh directory";
const BUSYBOX: &str = "/bin/busybox";
const QEMU: &str = "qemu-system-x86_64";
/// Booting TCG Linux and moving the root onto a tmpfs, before any test.
const BOOT_ALLOWANCE: Duration = Duration::from_secs(180);
/// Held while a test host runs, by every checkout on this machine.
const MACHINE_LOCK: &str = "/tmp/runvm-testhost.lock";
/// After the last test, for the reboot that ends QEMU.
const SHUTDOWN_ALLOWANCE: Duration = Duration::from_secs(30);

/// What a test host boot carries besides busybox and its /init.
#[derive(Debug, Default, Clone)]
pub struct Payload {
    pub scripts: Vec<Script>,
    /// Host files (or directories, with everything under them) copied to
    /// the same path inside; executables bring their shared libraries along.
    pub host_files: Vec<PathBuf>,
    /// More variables for the scripts (paths valid inside, as host_files
    /// keep their paths).
    pub extra_env: Vec<(String, PathBuf)>,
}

/// What one test host boot produced.
#[derive(Debug)]
pub struct TestHostRun {
    pub console: ConsoleLog,
    /// Why the console ended before every script was done, if it did.
    pub cut_short: Option<String>,
    pub qemu_stderr: String,
    /// Where the whole console was saved.
    pub console_file: PathBuf,
}

impl TestHostRun {
    /// Whether the named script ran to its end in this boot.
    pub fn finished(&self, name: &str) -> bool {
        self.console
            .records
            .get(name)
            .is_some_and(|record| record.exit_code.is_some())
    }

    /// This run's results after `rerun`, a fresh boot that ran (at least)
    /// the scripts this one did not finish: the rerun's, plus this run's
    /// finished scripts it did not run again.
    pub fn completed_by(self, mut rerun: TestHostRun) -> TestHostRun {
        for (name, record) in self.console.records {
            if record.exit_code.is_some() {
                rerun.console.records.entry(name).or_insert(record);
            }
        }
        rerun
    }

    /// The named script's run as the console reported it.
    pub fn script_run(&self, name: &str) -> ScriptRun {
        let why = || {
            self.cut_short
                .clone()
                .unwrap_or_else(|| "the test host skipped it".to_owned())
        };
        let context = format!(
            "--- test host console, last lines (all of it: {}):\n{}{}",
            self.console_file.display(),
            self.console.tail(),
            if self.qemu_stderr.is_empty() {
                String::new()
            } else {
                format!("--- QEMU stderr:\n{}", self.qemu_stderr)
            }
        );
        match self.console.records.get(name) {
            Some(record) => match record.exit_code {
                Some(code) => ScriptRun {
                    output: record.output.clone(),
                    exit: ScriptExit::Code(code),
                    elapsed: record.elapsed,
                },
                None => ScriptRun {
                    output: format!("{}\n{context}", record.output),
                    exit: ScriptExit::CutShort(why()),
                    elapsed: record.elapsed,
                },
            },
            None => ScriptRun {
                output: context,
                exit: ScriptExit::CutShort(why()),
                elapsed: Duration::ZERO,
            },
        }
    }
}

/// The paths the scripts see inside the test host.
fn env_inside(payload: &Payload) -> ScriptEnv {
    ScriptEnv {
        runvm: "/runvm/runvm".into(),
        guest_kernel: "/runvm/vmlinux".into(),
        guest_initramfs: "/runvm/initramfs.cpio".into(),
        busybox: BUSYBOX.into(),
        test_lib: "/tests/lib".into(),
        extra: payload.extra_env.clone(),
    }
}

/// Boots a test host that runs `payload`'s scripts and collects what they
/// print. `work_dir` receives the initramfs and the console log. Waits for
/// any other test host on this machine to finish first.
pub fn run(artifacts: &Artifacts, payload: &Payload, work_dir: &Path) -> Result<TestHostRun> {
    let _machine_lock = lock_machine()?;
    std::fs::create_dir_all(work_dir)
        .map_err(Error::io(format!("creating {}", work_dir.display())))?;
    let initramfs = work_dir.join("testhost-initramfs.cpio");
    let image = build_initramfs(artifacts, payload)?;
    std::fs::write(&initramfs, image)
        .map_err(Error::io(format!("writing {}", initramfs.display())))?;

    let script_time: Duration = payload.scripts.iter().map(|script| script.timeout).sum();
    let timeout = BOOT_ALLOWANCE + script_time + SHUTDOWN_ALLOWANCE;
    boot(&artifacts.testhost_kernel, &initramfs, timeout, work_dir)
}

/// Fresh test host boots after one that died or was unusable.
pub const RETRIES: usize = 2;

/// Runs `payload` as [`run`] does; when the test host dies before every
/// script is done, which TCG has been seen to do (its kernel crashed, a
/// stack overflow in interrupt context, or its nested guests could not run
/// at all, which its init detects with one plain boot), that is the
/// harness failing, not runvm: a fresh test host, at most [`RETRIES`] of
/// them, runs what the dead one did not finish, plus the scripts
/// `always_again` names (a set-up the others need). Each dead one's console
/// is kept beside, as `*.cut-N.log`. A script that fails while the test
/// host lives is not run again.
pub fn run_to_the_end(
    artifacts: &Artifacts,
    payload: &Payload,
    work_dir: &Path,
    always_again: impl Fn(&str) -> bool,
) -> Result<TestHostRun> {
    let mut host_run = run(artifacts, payload, work_dir)?;
    for attempt in 1..=RETRIES {
        let Some(why) = &host_run.cut_short else {
            break;
        };
        let unfinished: Vec<Script> = payload
            .scripts
            .iter()
            .filter(|s| always_again(&s.name) || !host_run.finished(&s.name))
            .cloned()
            .collect();
        eprintln!(
            "test host: the run was cut short ({why}); booting a fresh one for the {} scripts not finished",
            unfinished.len()
        );
        let kept = host_run
            .console_file
            .with_extension(format!("cut-{attempt}.log"));
        std::fs::rename(&host_run.console_file, &kept).map_err(Error::io(format!(
            "keeping {}",
            host_run.console_file.display()
        )))?;
        let rest = Payload {
            scripts: unfinished,
            ..payload.clone()
        };
        host_run = host_run.completed_by(run(artifacts, &rest, work_dir)?);
    }
    Ok(host_run)
}

/// Takes the machine-wide test host lock, waiting if another run holds it:
/// two TCG test hosts sharing a small machine starve each other's nested
/// guests, which then stall before printing anything. Released on drop.
fn lock_machine() -> Result<File> {
    let lock_error = || Error::io(format!("locking {MACHINE_LOCK}"));
    let lock = OpenOptions::new()
        .create(true)
        .append(true)
        .open(MACHINE_LOCK)
        .map_err(lock_error())?;
    match lock.try_lock() {
        Ok(()) => return Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error()(e)),
    }
    eprintln!("integration: waiting for another test host on this machine ({MACHINE_LOCK})");
    lock.lock().map_err(lock_error())?;
    Ok(lock)
}

/// Builds the test host's initramfs: busybox, the init, runvm and the guest
/// assets, the scripts, their plan and helpers, and the payload's host files.
fn build_initramfs(artifacts: &Artifacts, payload: &Payload) -> Result<Vec<u8>> {
    let mut image = Image::default();
    // The kernel opens it as /init's stdio: the console markers go there.
    image
        .archive
        .add_char_dev("/dev/console", 0o600, 5, 1)
        .map_err(|e| Error::Setup(format!("packing the test host: {e}")))?;
    image.add_file("/init", 0o755, INIT_SCRIPT.as_bytes())?;
    image.add_host_file(Path::new(BUSYBOX), Path::new(BUSYBOX))?;

    let env = env_inside(payload);
    image.add_host_file(&artifacts.runvm, &env.runvm)?;
    image.add_host_file(&artifacts.guest_kernel, &env.guest_kernel)?;
    image.add_host_file(&artifacts.guest_initramfs, &env.guest_initramfs)?;
    let exports: String = env
        .vars()
        .into_iter()
        .map(|(name, path)| format!("export {name}={}\n", shell_quote(&path.to_string_lossy())))
        .collect();
    image.add_file("/etc/runvm-test.env", 0o644, exports.as_bytes())?;

    let mut plan = String::new();
    for script in &payload.scripts {
        image.add_host_file(
            &script.path,
            Path::new(&format!("/tests/{}.sh", script.name)),
        )?;
        plan.push_str(&format!(
            "{} {}",
            script.name,
            script.timeout.as_secs().max(1)
        ));
        for arg in &script.args {
            plan.push(' ');
            plan.push_str(arg);
        }
        plan.push('\n');
    }
    image.add_file("/tests/plan", 0o644, plan.as_bytes())?;
    let lib_dir = scripts::test_lib_dir();
    let lib_error = || Error::io(format!("reading {}", lib_dir.display()));
    for entry in std::fs::read_dir(&lib_dir).map_err(lib_error())? {
        let helper = entry.map_err(lib_error())?;
        image.add_host_file(&helper.path(), &env.test_lib.join(helper.file_name()))?;
    }

    for host_file in &payload.host_files {
        image.add_host_tree(host_file)?;
    }
    Ok(image.archive.finish())
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The cpio archive, skipping files added before (libraries shared by
/// several executables).
#[derive(Default)]
struct Image {
    archive: Archive,
    paths: BTreeSet<String>,
}

impl Image {
    fn add_file(&mut self, path: &str, mode: u32, contents: &[u8]) -> Result<()> {
        if self.paths.insert(path.to_owned()) {
            self.archive
                .add_file(path, mode, contents)
                .map_err(|e| Error::Setup(format!("packing the test host: {e}")))?;
        }
        Ok(())
    }

    /// Copies `host_path` to the same path inside: a file (with its shared
    /// libraries if it is executable), or a directory with everything under
    /// it (such as iptables' extensions, which it loads by name).
    fn add_host_tree(&mut self, host_path: &Path) -> Result<()> {
        if host_path.is_dir() {
            let list_error = || Error::io(format!("reading {}", host_path.display()));
            let mut entries = std::fs::read_dir(host_path)
                .map_err(list_error())?
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(list_error())?;
            // The archive's order, and so the image, does not depend on the
            // directory's.
            entries.sort();
            return entries
                .iter()
                .try_for_each(|entry| self.add_host_tree(entry));
        }
        self.add_host_file(host_path, host_path)?;
        if is_executable(host_path) {
            for library in ldd::shared_libraries(host_path)? {
                self.add_host_file(&library, &library)?;
            }
        }
        Ok(())
    }

    /// Copies `host_path` (following symlinks) to `inside`, keeping its mode.
    fn add_host_file(&mut self, host_path: &Path, inside: &Path) -> Result<()> {
        let read_error = || Error::io(format!("reading {}", host_path.display()));
        let contents = std::fs::read(host_path).map_err(read_error())?;
        let mode = std::fs::metadata(host_path)
            .map_err(read_error())?
            .permissions()
            .mode();
        self.add_file(&inside.to_string_lossy(), mode & 0o7777, &contents)
    }
}

/// Quotes `text` as one word for sh.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs QEMU on the test host kernel and `initramfs` until the init says it
/// is done and QEMU exits, or until `timeout`. The console goes to a file in
/// `work_dir` as it comes, for a look at a run that seems stuck.
fn boot(
    kernel: &Path,
    initramfs: &Path,
    timeout: Duration,
    work_dir: &Path,
) -> Result<TestHostRun> {
    let show_console = std::env::var_os(SHOW_CONSOLE_VAR).is_some();
    let console_file = work_dir.join("testhost-console.log");
    let console_error = || Error::io(format!("writing {}", console_file.display()));
    let mut console_copy = File::create(&console_file).map_err(console_error())?;
    let started = Instant::now();
    let mut qemu = Command::new(QEMU)
        .args(["-accel", "tcg", "-cpu", "max"])
        .args(["-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off"])
        .args(["-m", "4G", "-smp", "2", "-no-reboot", "-nographic"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        // oops=panic: an oops of the test host's own kernel (a stack
        // overflow under TCG has been seen) would leave it running but
        // broken, failing every later script; as a panic it ends QEMU and
        // the runner boots a fresh test host.
        .args([
            "-append",
            "console=ttyS0 reboot=t panic=-1 oops=panic quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!(
            "starting {QEMU} (Debian package qemu-system-x86)"
        )))?;
    let lines = lines_in_background(qemu.stdout.take().expect("stdout is piped"));
    let stderr = read_to_end_in_background(qemu.stderr.take());

    let mut console = ConsoleLog::new(started);
    let mut deadline = started + timeout;
    let timed_out = loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((line, at)) => {
                if show_console {
                    eprintln!("testhost| {line}");
                }
                writeln!(console_copy, "{line}").map_err(console_error())?;
                console.feed(&line, at);
                if console.done {
                    // Only the reboot is left.
                    deadline = deadline.min(Instant::now() + SHUTDOWN_ALLOWANCE);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break false,
            Err(RecvTimeoutError::Timeout) => break true,
        }
    };
    console.close(Instant::now());
    let cut_short = end_qemu(&mut qemu, timed_out, timeout, console.done)?;
    let qemu_stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    Ok(TestHostRun {
        console,
        cut_short,
        qemu_stderr,
        console_file,
    })
}

/// Reaps QEMU (killing it at a timeout); says why the tests were cut short
/// if they were.
fn end_qemu(
    qemu: &mut Child,
    timed_out: bool,
    timeout: Duration,
    done: bool,
) -> Result<Option<String>> {
    if timed_out {
        // It may already be gone; the error then is of no interest.
        let _ = qemu.kill();
    }
    let status = qemu.wait().map_err(Error::io("waiting for QEMU"))?;
    Ok(match (done, timed_out) {
        (true, _) => None,
        (false, true) => Some(format!(
            "the test host hit its {} s timeout",
            timeout.as_secs()
        )),
        (false, false) => Some(format!(
            "QEMU ended ({status}) before the test host was done"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose console printed `lines`.
    fn run_of(lines: &[&str], cut_short: Option<&str>) -> TestHostRun {
        let mut console = ConsoleLog::new(Instant::now());
        for line in lines {
            console.feed(line, Instant::now());
        }
        TestHostRun {
            console,
            cut_short: cut_short.map(str::to_owned),
            qemu_stderr: String::new(),
            console_file: PathBuf::from("console.log"),
        }
    }

    #[test]
    fn a_rerun_completes_what_a_dead_test_host_left() {
        let dead = run_of(
            &[
                "@@RUNVM-HOST-UP",
                "@@RUNVM-TEST-BEGIN a",
                "@@RUNVM-TEST-END a 0",
                "@@RUNVM-TEST-BEGIN b",
                "@@RUNVM-TEST-END b 1",
                "@@RUNVM-TEST-BEGIN c",
                "BUG: stack guard page was hit",
            ],
            Some("QEMU ended"),
        );
        assert!(dead.finished("a") && dead.finished("b"));
        assert!(!dead.finished("c") && !dead.finished("d"));
        let rerun = run_of(
            &[
                "@@RUNVM-HOST-UP",
                "@@RUNVM-TEST-BEGIN c",
                "@@RUNVM-TEST-END c 0",
                "@@RUNVM-TEST-BEGIN d",
                "@@RUNVM-TEST-END d 0",
                "@@RUNVM-DONE",
            ],
            None,
        );
        let run = dead.completed_by(rerun);
        assert!(run.cut_short.is_none());
        let verdicts: Vec<(&str, Option<i32>)> = run
            .console
            .records
            .iter()
            .map(|(name, record)| (name.as_str(), record.exit_code))
            .collect();
        // b failed while its test host lived: its failure stands.
        assert_eq!(
            verdicts,
            [
                ("a", Some(0)),
                ("b", Some(1)),
                ("c", Some(0)),
                ("d", Some(0))
            ]
        );
    }

    #[test]
    fn init_prints_the_rerun_note_the_runner_looks_for() {
        assert!(INIT_SCRIPT.contains(&format!("RERUN_NOTE=\"{RERUN_NOTE}\"")));
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
