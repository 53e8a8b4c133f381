//! `cargo test -p integration --test e2e`: every `tests/*.sh` as one test,
//! run directly where /dev/kvm is hardware KVM, else inside one nested test
//! host boot shared by all of them. On a kvm_pvm host one more test checks,
//! on the host itself, that runvm refuses plainly. Every
//! `client-tests/*.sh` is two tests, `<case>-runc` and `<case>-runvm`, run
//! in one boot of the client test host (docker, containerd, podman), after
//! `clienthost_setup`, which starts the daemons. Every `conformance/*.sh`
//! is two tests too, `<case>-runc` and `<case>-runvm`, run with the other
//! scripts.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use integration::artifacts::Artifacts;
use integration::clienthost;
use integration::kvm::KvmKind;
use integration::network_tools::network_tools;
use integration::process::run_with_timeout;
use integration::scripts::{self, Script, ScriptEnv};
use integration::testhost::{self, Payload, TestHostRun};
use integration::{crate_dir, pvm_refusal};
use libtest_mimic::{Arguments, Failed, Trial};

/// Per test script; a runvm boot takes seconds even nested under TCG.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// The kind the client tests are listed with: they always run in the client
/// test host, which brings the daemons, even where KVM is hardware.
const CLIENTHOST: &str = "clienthost";
/// Debian's runc: the conformance cases and the scripts that check what a
/// spec means run it as well, to show the test itself is right.
const RUNC: &str = "/usr/sbin/runc";
/// Kill guard for the host-side refusal test, which must end within 1 s.
const REFUSAL_HANG_GUARD: Duration = Duration::from_secs(10);

/// Where the scripts run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Direct,
    TestHost,
}

impl Place {
    fn kind(self) -> &'static str {
        match self {
            Place::Direct => "direct",
            Place::TestHost => "testhost",
        }
    }
}

/// State the trials share: the builds and the test host boot happen once,
/// on first use, whichever trial comes first.
struct Shared {
    artifacts: Artifacts,
    place: Place,
    /// The scripts the filters selected: what the test host boot carries.
    selected: Vec<Script>,
    /// What the client test host boot carries: the setup, then each
    /// selected client case with each runtime.
    client_plan: Vec<Script>,
    release_build: OnceLock<Result<(), String>>,
    testhost_kernel_build: OnceLock<Result<(), String>>,
    testhost: OnceLock<Result<TestHostRun, String>>,
    clienthost: OnceLock<Result<TestHostRun, String>>,
}

impl Shared {
    fn build_release(&self) -> Result<(), Failed> {
        once(&self.release_build, || self.artifacts.build_release())
    }

    fn build_testhost_kernel(&self) -> Result<(), Failed> {
        once(&self.testhost_kernel_build, || {
            self.artifacts.build_testhost_kernel()
        })
    }

    fn testhost_run(&self) -> Result<&TestHostRun, Failed> {
        let hostile = hostile_kernel()?;
        let tools = network_tools().map_err(|e| Failed::from(e.to_string()))?;
        self.boot(&self.testhost, &work_dir(), move || Payload {
            scripts: self.selected.clone(),
            host_files: [vec![vmctl(), hostile.clone(), RUNC.into()], tools].concat(),
            extra_env: extra_env(hostile),
        })
    }

    fn clienthost_run(&self) -> Result<&TestHostRun, Failed> {
        let host_files = clienthost::host_files().map_err(|e| Failed::from(e.to_string()))?;
        // Its own console log and initramfs, next to the other flavour's.
        self.boot(&self.clienthost, &work_dir().join(CLIENTHOST), || Payload {
            scripts: self.client_plan.clone(),
            host_files,
            extra_env: clienthost::extra_env(),
        })
    }

    /// The test host boot kept in `cell`, carrying `payload`, its files in
    /// `work_dir`: booted by whichever trial asks first.
    fn boot<'a>(
        &self,
        cell: &'a OnceLock<Result<TestHostRun, String>>,
        work_dir: &Path,
        payload: impl FnOnce() -> Payload,
    ) -> Result<&'a TestHostRun, Failed> {
        self.build_release()?;
        self.build_testhost_kernel()?;
        let run = cell.get_or_init(|| {
            let payload = payload();
            let run = testhost::run_to_the_end(&self.artifacts, &payload, work_dir, |name| {
                name == clienthost::SETUP_NAME
            })
            .map_err(|e| e.to_string())?;
            print_timings(&run);
            Ok(run)
        });
        run.as_ref()
            .map_err(|message| Failed::from(message.as_str()))
    }

    fn run_client_script(&self, name: &str) -> Result<(), Failed> {
        self.clienthost_run()?
            .script_run(name)
            .verdict()
            .map_err(Failed::from)
    }

    fn run_script(&self, script: &Script) -> Result<(), Failed> {
        let run = match self.place {
            Place::TestHost => self.testhost_run()?.script_run(&script.name),
            Place::Direct => {
                self.build_release()?;
                let env = ScriptEnv::on_this_host(&self.artifacts, extra_env(hostile_kernel()?));
                let work_dir = work_dir().join("direct").join(&script.name);
                scripts::run_direct(script, &env, &work_dir).map_err(|e| e.to_string())?
            }
        };
        run.verdict().map_err(Failed::from)
    }

    /// On a kvm_pvm host, on the host: `runvm boot` refuses at once, in one
    /// sentence naming kvm_pvm.
    fn pvm_host_refuses_boot(&self) -> Result<(), Failed> {
        self.build_release()?;
        let mut command = Command::new(&self.artifacts.runvm);
        command.arg("boot");
        let run = run_with_timeout(command, REFUSAL_HANG_GUARD).map_err(|e| e.to_string())?;
        pvm_refusal::check(&run).map_err(Failed::from)
    }
}

/// The test driver for what busybox cannot do (`src/bin/vmctl/`).
fn vmctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vmctl"))
}

/// The hostile guest (`hostile-guest/garbage.S`: garbage to every
/// virtio-mmio register and queue, then a triple fault), assembled once
/// with the system's C compiler.
fn hostile_kernel() -> Result<PathBuf, Failed> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let source = crate_dir().join("hostile-guest/garbage.S");
        let elf = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-guest.elf");
        let status = Command::new("cc")
            .args(["-nostdlib", "-static", "-no-pie", "-Wl,-Ttext=0x1000000"])
            .args(["-Wl,--build-id=none", "-o"])
            .arg(&elf)
            .arg(&source)
            .status()
            .map_err(|e| format!("running cc on {}: {e}", source.display()))?;
        if !status.success() {
            return Err(format!("cc failed on {}: {status}", source.display()));
        }
        Ok(elf)
    });
    built
        .clone()
        .map_err(|message| Failed::from(message.as_str()))
}

/// Variables beyond the standard ones (paths are the same inside the test
/// host, which gets these files at their host paths).
fn extra_env(hostile_kernel: PathBuf) -> Vec<(String, PathBuf)> {
    vec![
        ("VMCTL".to_owned(), vmctl()),
        ("HOSTILE_KERNEL".to_owned(), hostile_kernel),
        ("RUNC".to_owned(), RUNC.into()),
    ]
}

/// Each conformance case (`conformance/*.sh`, written from the OCI runtime
/// spec's text) once per runtime, runc first: a case runc fails is a wrong
/// test.
fn conformance_runs() -> integration::Result<Vec<Script>> {
    let mut runs = Vec::new();
    for case in scripts::discover(&crate_dir().join("conformance"), SCRIPT_TIMEOUT)? {
        for runtime in clienthost::RUNTIMES {
            runs.push(case.with_arg(runtime)?);
        }
    }
    Ok(runs)
}

/// Each client case once per runtime, runc first.
fn client_runs() -> integration::Result<Vec<Script>> {
    let mut runs = Vec::new();
    for case in clienthost::discover_cases()? {
        for runtime in clienthost::RUNTIMES {
            runs.push(case.with_arg(runtime)?);
        }
    }
    Ok(runs)
}

/// Where the runs keep their files: the console log, direct runs' working
/// directories.
fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e")
}

/// Runs `build` the first time; later calls get its first result.
fn once(
    cell: &OnceLock<Result<(), String>>,
    build: impl FnOnce() -> integration::Result<()>,
) -> Result<(), Failed> {
    cell.get_or_init(|| build().map_err(|e| e.to_string()))
        .clone()
        .map_err(Failed::from)
}

/// The test host's timings, for whoever watches the run (on stderr, as the
/// harness owns stdout).
fn print_timings(run: &TestHostRun) {
    let up = run.console.host_up_after.map_or_else(
        || "never".to_owned(),
        |after| format!("{:.1} s", after.as_secs_f64()),
    );
    let tests: Vec<String> = run
        .console
        .records
        .iter()
        .map(|(name, record)| {
            let rerun = if record.output.contains(testhost::RERUN_NOTE) {
                " (run twice: a nested guest triple-faulted)"
            } else {
                ""
            };
            format!("{name} {:.1} s{rerun}", record.elapsed.as_secs_f64())
        })
        .collect();
    eprintln!("test host: up after {up}; {}", tests.join(", "));
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let kvm = KvmKind::detect();
    let place = if kvm == KvmKind::Hardware {
        Place::Direct
    } else {
        Place::TestHost
    };
    let discovered = scripts::discover(&crate_dir().join("tests"), SCRIPT_TIMEOUT)
        .and_then(|tests| Ok([tests, conformance_runs()?].concat()));
    let all_scripts = match discovered {
        Ok(all_scripts) => all_scripts,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let client_runs = match client_runs() {
        Ok(client_runs) => client_runs,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let is_selected = |name: &str, kind: &str| {
        let trial = Trial::test(name, || Ok(())).with_kind(kind);
        !args.is_filtered_out(&trial) && !args.is_ignored(&trial)
    };
    let selected = all_scripts
        .iter()
        .filter(|script| is_selected(&script.name, place.kind()))
        .cloned()
        .collect();
    let selected_cases: Vec<Script> = client_runs
        .iter()
        .filter(|case| is_selected(&case.name, CLIENTHOST))
        .cloned()
        .collect();
    let client_plan = match clienthost::setup_script() {
        // The setup runs whenever a case does, selected or not.
        Ok(setup) if !selected_cases.is_empty() => [vec![setup], selected_cases].concat(),
        Ok(_) => Vec::new(),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shared = Arc::new(Shared {
        artifacts: Artifacts::in_workspace(),
        place,
        selected,
        client_plan,
        release_build: OnceLock::new(),
        testhost_kernel_build: OnceLock::new(),
        testhost: OnceLock::new(),
        clienthost: OnceLock::new(),
    });

    let mut trials: Vec<Trial> = all_scripts
        .into_iter()
        .map(|script| {
            let shared = Arc::clone(&shared);
            Trial::test(script.name.clone(), move || shared.run_script(&script))
                .with_kind(place.kind())
        })
        .collect();
    for name in std::iter::once(clienthost::SETUP_NAME.to_owned())
        .chain(client_runs.into_iter().map(|run| run.name))
    {
        let shared = Arc::clone(&shared);
        trials.push(
            Trial::test(name.clone(), move || shared.run_client_script(&name))
                .with_kind(CLIENTHOST),
        );
    }
    if kvm == KvmKind::Pvm {
        let shared = Arc::clone(&shared);
        trials.push(
            Trial::test("pvm_host_refuses_boot", move || {
                shared.pvm_host_refuses_boot()
            })
            .with_kind("host"),
        );
    }
    libtest_mimic::run(&args, trials).exit_code()
}
