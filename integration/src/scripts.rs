//! Test scripts: finding them, their environment, running them directly.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::artifacts::Artifacts;
use crate::process::run_with_timeout;
use crate::{Error, Result};

/// One shell script, run with busybox's `sh`.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file name without `.sh`: the trial's name.
    pub name: String,
    pub path: PathBuf,
    /// Killed after this long.
    pub timeout: Duration,
    /// Its arguments (plain words, like names).
    pub args: Vec<String>,
}

impl Script {
    pub fn new(path: &Path, timeout: Duration) -> Result<Script> {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .filter(|stem| is_plain_name(stem))
            .ok_or_else(|| {
                Error::Setup(format!(
                    "{}: a script's name must be letters, digits, '_' and '-'",
                    path.display()
                ))
            })?;
        Ok(Script {
            name: name.to_owned(),
            path: path.to_owned(),
            timeout,
            args: Vec::new(),
        })
    }

    /// The same script given one more argument, as a test of its own named
    /// `<name>-<arg>`: a client case run once per runtime.
    pub fn with_arg(&self, arg: &str) -> Result<Script> {
        if !is_plain_name(arg) {
            return Err(Error::Setup(format!(
                "{}: an argument must be letters, digits, '_' and '-', not {arg:?}",
                self.path.display()
            )));
        }
        let mut args = self.args.clone();
        args.push(arg.to_owned());
        Ok(Script {
            name: format!("{}-{arg}", self.name),
            args,
            ..self.clone()
        })
    }
}

/// The name goes on the console markers and into the test host's shell
/// loop: keep it to one word.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The shell helpers the test scripts source, on this host.
pub fn test_lib_dir() -> PathBuf {
    crate::crate_dir().join("tests").join("lib")
}

/// The `*.sh` files in `dir`, sorted by name.
pub fn discover(dir: &Path, timeout: Duration) -> Result<Vec<Script>> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("reading {}", dir.display())))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(Error::io(format!("reading {}", dir.display())))?
            .path();
        if path.extension().is_some_and(|ext| ext == "sh") {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| Script::new(path, own_timeout(path)?.unwrap_or(timeout)))
        .collect()
}

/// A script's own timeout, from a `# timeout: SECONDS` line among its
/// leading comments, for the few that need more than the default.
fn own_timeout(path: &Path) -> Result<Option<Duration>> {
    let text =
        std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
    for line in text.lines().take_while(|line| line.starts_with('#')) {
        if let Some(value) = line.strip_prefix("# timeout:") {
            let seconds = value.trim().parse().map_err(|_| {
                Error::Setup(format!(
                    "{}: `# timeout: SECONDS` wants a whole number, not {value:?}",
                    path.display()
                ))
            })?;
            return Ok(Some(Duration::from_secs(seconds)));
        }
    }
    Ok(None)
}

/// The environment variables a script gets, with paths as seen where it
/// runs (the host, or inside the test host).
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    pub runvm: PathBuf,
    pub guest_kernel: PathBuf,
    pub guest_initramfs: PathBuf,
    pub busybox: PathBuf,
    /// The directory of shell helpers the scripts source (`tests/lib`).
    pub test_lib: PathBuf,
    /// More variables for particular scripts, such as the benchmark's tools.
    pub extra: Vec<(String, PathBuf)>,
}

impl ScriptEnv {
    /// For a script run directly on this machine.
    pub fn on_this_host(artifacts: &Artifacts, extra: Vec<(String, PathBuf)>) -> ScriptEnv {
        ScriptEnv {
            runvm: artifacts.runvm.clone(),
            guest_kernel: artifacts.guest_kernel.clone(),
            guest_initramfs: artifacts.guest_initramfs.clone(),
            // Debian's busybox-static.
            busybox: "/bin/busybox".into(),
            test_lib: test_lib_dir(),
            extra,
        }
    }

    pub fn vars(&self) -> Vec<(&str, &Path)> {
        let mut vars = vec![
            ("RUNVM", self.runvm.as_path()),
            ("GUEST_KERNEL", self.guest_kernel.as_path()),
            ("GUEST_INITRAMFS", self.guest_initramfs.as_path()),
            ("BUSYBOX", self.busybox.as_path()),
            ("TEST_LIB", self.test_lib.as_path()),
        ];
        vars.extend(
            self.extra
                .iter()
                .map(|(name, path)| (name.as_str(), path.as_path())),
        );
        vars
    }
}

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptExit {
    Code(i32),
    /// Killed at its timeout (or by a signal).
    Killed,
    /// It never finished: the test host stopped first. Says why.
    CutShort(String),
}

impl fmt::Display for ScriptExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptExit::Code(code) => write!(f, "exit status {code}"),
            ScriptExit::Killed => write!(f, "killed (timeout)"),
            ScriptExit::CutShort(why) => write!(f, "did not finish: {why}"),
        }
    }
}

/// A script's run, wherever it happened.
#[derive(Debug, Clone)]
pub struct ScriptRun {
    pub output: String,
    pub exit: ScriptExit,
    pub elapsed: Duration,
}

impl ScriptRun {
    /// `Ok` for exit status 0; else the message a failed test shows.
    pub fn verdict(&self) -> Result<(), String> {
        if self.exit == ScriptExit::Code(0) {
            return Ok(());
        }
        Err(format!(
            "{}\n--- {} after {:.1} s",
            self.output.trim_end(),
            self.exit,
            self.elapsed.as_secs_f64()
        ))
    }
}

/// Runs `script` on this machine with busybox's sh, as the test host would,
/// in a fresh `work_dir` (emptied first) for the files it makes.
pub fn run_direct(script: &Script, env: &ScriptEnv, work_dir: &Path) -> Result<ScriptRun> {
    let reset_error = || Error::io(format!("emptying {}", work_dir.display()));
    if work_dir.exists() {
        std::fs::remove_dir_all(work_dir).map_err(reset_error())?;
    }
    std::fs::create_dir_all(work_dir).map_err(reset_error())?;
    let mut command = Command::new(&env.busybox);
    command
        .arg("sh")
        .arg(&script.path)
        .args(&script.args)
        .envs(env.vars())
        .current_dir(work_dir);
    let finished = run_with_timeout(command, script.timeout)
        .map_err(Error::io(format!("running {}", script.path.display())))?;
    let exit = match finished.status.and_then(|status| status.code()) {
        Some(code) => ScriptExit::Code(code),
        None => ScriptExit::Killed,
    };
    let mut output = String::from_utf8_lossy(&finished.stdout).into_owned();
    if !finished.stderr.is_empty() {
        output.push_str("\n--- stderr:\n");
        output.push_str(&String::from_utf8_lossy(&finished.stderr));
    }
    Ok(ScriptRun {
        output,
        exit,
        elapsed: finished.elapsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_one_plain_word() {
        assert!(is_plain_name("boot_smp-memory2"));
        assert!(!is_plain_name("two words"));
        assert!(!is_plain_name("semi;colon"));
        assert!(!is_plain_name(""));
    }

    #[test]
    fn discovers_the_shipped_tests_in_order() {
        let scripts = discover(&crate::crate_dir().join("tests"), Duration::from_secs(1)).unwrap();
        let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
        assert!(names.contains(&"boot_banner"));
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_script_may_set_its_own_timeout() {
        let dir = std::env::temp_dir().join(format!("runvm-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("slow.sh"), "# Slow.\n# timeout: 300\ntrue\n").unwrap();
        std::fs::write(dir.join("plain.sh"), "# Plain.\ntrue\n# timeout: 300\n").unwrap();
        let scripts = discover(&dir, Duration::from_secs(7)).unwrap();
        let timeouts: Vec<(&str, u64)> = scripts
            .iter()
            .map(|s| (s.name.as_str(), s.timeout.as_secs()))
            .collect();
        assert_eq!(timeouts, [("plain", 7), ("slow", 300)]);
        std::fs::write(dir.join("bad.sh"), "# timeout: soon\n").unwrap();
        assert!(discover(&dir, Duration::from_secs(7)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_variant_is_named_by_its_argument() {
        let script = Script::new(Path::new("/c/docker_run.sh"), Duration::from_secs(9)).unwrap();
        let variant = script.with_arg("runvm").unwrap();
        assert_eq!(variant.name, "docker_run-runvm");
        assert_eq!(variant.args, ["runvm"]);
        assert_eq!(variant.path, script.path);
        assert_eq!(variant.timeout, script.timeout);
        assert!(script.with_arg("two words").is_err());
    }

    #[test]
    fn verdict_shows_output_and_why() {
        let run = ScriptRun {
            output: "expected ready\n".into(),
            exit: ScriptExit::Code(1),
            elapsed: Duration::from_millis(1500),
        };
        assert_eq!(
            run.verdict().unwrap_err(),
            "expected ready\n--- exit status 1 after 1.5 s"
        );
        let passed = ScriptRun {
            exit: ScriptExit::Code(0),
            ..run
        };
        assert!(passed.verdict().is_ok());
    }
}
