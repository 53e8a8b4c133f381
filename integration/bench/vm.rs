//! `cargo bench -p integration --bench vm`: runs the benchmark scripts
//! where the tests would run, directly on hardware KVM or inside the nested
//! test host, and prints one table of the rows they report (`row` in
//! `tests/lib/bench.sh`): each figure's median and spread beside its
//! reference measured in the same run, and their ratio; each script's own
//! per-run lines go to stderr. `bench/boot.sh`: runvm against QEMU,
//! time to the guest's ready line. `bench/stdio.sh`: a container process's
//! stdout through the VM against a plain pipe. `bench/fs.sh`: sequential
//! I/O and file create/stat/unlink on a container's virtio-fs rootfs
//! against the host's own file system. `bench/container.sh`: `run` to a
//! container's first output line and an idle container's host memory,
//! runvm against runc. `bench/net.sh`: TCP throughput and ping round
//! trips from the host to a container, against a plain network namespace
//! on the same CNI bridge. `bench/density.sh`: 20 containers started at
//! once. Words after `--` select scripts by name (`-- fs`).
//! `RUNVM_BENCH_BASELINE=FILE`: another runvm binary (an earlier build,
//! its guest images embedded) that `bench/container.sh` also measures, for
//! a change's before and after in one run.
//! Not part of `cargo test`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use integration::artifacts::Artifacts;
use integration::crate_dir;
use integration::kvm::KvmKind;
use integration::scripts::{self, Script, ScriptEnv};
use integration::testhost::{self, Payload};

/// The benchmark scripts, in the order they run.
const BENCH_SCRIPTS: [&str; 6] = [
    "boot.sh",
    "container.sh",
    "stdio.sh",
    "fs.sh",
    "net.sh",
    "density.sh",
];
/// Names another runvm binary for `bench/container.sh` to measure too.
const BASELINE_VAR: &str = "RUNVM_BENCH_BASELINE";
/// Ten boots of each VMM, nested under TCG, fit well within this.
const BENCH_TIMEOUT: Duration = Duration::from_secs(900);
const QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// The reference container runtime (Debian package runc).
const RUNC: &str = "/usr/sbin/runc";
/// QEMU's firmware for `-M microvm` (qboot), from its default data dir.
const QEMU_MICROVM_FIRMWARE: &str = "/usr/share/qemu/bios-microvm.bin";

fn main() -> Result<()> {
    // `cargo test --benches` runs this too, without `--bench`: only say how
    // to run it, as libtest does.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("vm benchmarks: run them with `cargo bench -p integration --bench vm`");
        return Ok(());
    }
    // `-- --table-from FILE`: the table of the rows in a saved output (a
    // test host's console log of a run that was cut short), without
    // running anything.
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--table-from") {
        let path = args.get(at + 1).context("--table-from needs a file")?;
        let saved = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        let rows = saved.lines().filter_map(Row::parse).collect();
        let place = format!("rows read from {path}");
        println!("{}", table(&with_derived_rows(rows), &place));
        return Ok(());
    }
    for (needed, package) in [
        (QEMU, "qemu-system-x86"),
        (QEMU_MICROVM_FIRMWARE, "qemu-system-x86"),
        (RUNC, "runc"),
    ] {
        if !Path::new(needed).exists() {
            bail!("{needed} is missing: install the Debian package {package}");
        }
    }
    let in_testhost = KvmKind::detect() != KvmKind::Hardware;
    let artifacts = Artifacts::in_workspace();
    artifacts.build_release()?;
    if in_testhost {
        artifacts.build_testhost_kernel()?;
    }
    // `cargo bench -p integration --bench vm -- fs`: only the scripts whose
    // name holds one of the words after `--`, as libtest filters.
    let filters: Vec<String> = args
        .iter()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .cloned()
        .collect();
    let scripts = BENCH_SCRIPTS
        .iter()
        .filter(|name| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .map(|name| Script::new(&crate_dir().join("bench").join(name), BENCH_TIMEOUT))
        .collect::<integration::Result<Vec<_>>>()?;
    if scripts.is_empty() {
        bail!("no benchmark script matches {filters:?}: they are {BENCH_SCRIPTS:?}");
    }
    let boot_timer = PathBuf::from(env!("CARGO_BIN_EXE_boot-timer"));
    let vmctl = PathBuf::from(env!("CARGO_BIN_EXE_vmctl"));
    let mut extra_env = vec![
        ("BOOT_TIMER".to_owned(), boot_timer.clone()),
        ("VMCTL".to_owned(), vmctl.clone()),
        ("QEMU".to_owned(), QEMU.into()),
        ("RUNC".to_owned(), RUNC.into()),
    ];
    let baseline = std::env::var_os(BASELINE_VAR).map(PathBuf::from);
    if let Some(path) = &baseline {
        if !path.is_absolute() || !path.is_file() {
            bail!(
                "{BASELINE_VAR}={} is not an absolute path to a file",
                path.display()
            );
        }
        extra_env.push(("BASELINE_RUNVM".to_owned(), path.clone()));
    }
    let mut failures = Vec::new();

    let work_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench");
    let runs = if in_testhost {
        eprintln!("vm benchmarks: inside the nested test host (this /dev/kvm is not hardware KVM)");
        let payload = Payload {
            scripts: scripts.clone(),
            host_files: [
                vec![
                    boot_timer,
                    vmctl,
                    QEMU.into(),
                    QEMU_MICROVM_FIRMWARE.into(),
                    RUNC.into(),
                ],
                baseline.into_iter().collect(),
                integration::network_tools::network_tools()?,
            ]
            .concat(),
            extra_env,
        };
        let host_run = testhost::run_to_the_end(&artifacts, &payload, &work_dir, |_| false)?;
        scripts
            .iter()
            .map(|script| host_run.script_run(&script.name))
            .collect::<Vec<_>>()
    } else {
        let env = ScriptEnv::on_this_host(&artifacts, extra_env);
        scripts
            .iter()
            .map(|script| scripts::run_direct(script, &env, &work_dir.join(&script.name)))
            .collect::<integration::Result<Vec<_>>>()?
    };
    let mut rows = Vec::new();
    for (script, run) in scripts.iter().zip(runs) {
        eprint!("{}", run.output);
        rows.extend(run.output.lines().filter_map(Row::parse));
        if let Err(failure) = run.verdict() {
            failures.push(format!("{}: {failure}", script.name));
        }
    }
    let place = if in_testhost {
        "inside the nested test host (QEMU TCG, 4 GiB, 2 vCPUs)"
    } else {
        "directly on this host's KVM"
    };
    println!("{}", table(&with_derived_rows(rows), place));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!(failures.join("\n"))).context("a benchmark failed")
    }
}

/// One row a script reported: `@row<TAB>group<TAB>measure<TAB>unit<TAB>
/// runvm values<TAB>reference<TAB>reference values`.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    group: String,
    measure: String,
    unit: String,
    runvm: Vec<f64>,
    reference: String,
    reference_values: Vec<f64>,
}

impl Row {
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.strip_prefix("@row\t")?.split('\t');
        let mut next = || fields.next().unwrap_or("").trim().to_owned();
        let values = |text: String| -> Vec<f64> {
            text.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        };
        Some(Self {
            group: next(),
            measure: next(),
            unit: next(),
            runvm: values(next()),
            reference: next(),
            reference_values: values(next()),
        })
    }
}

/// The median (the mean of the middle two for an even count), min and max.
fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    Some((median, sorted[0], sorted[n - 1]))
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// `median (min-max, n runs)`, or the one value.
fn summary(values: &[f64]) -> String {
    match stats(values) {
        None => "-".to_owned(),
        Some((median, ..)) if values.len() == 1 => number(median),
        Some((median, min, max)) => format!(
            "{} ({}-{}, {} runs)",
            number(median),
            number(min),
            number(max),
            values.len()
        ),
    }
}

/// Adds `run` against runvm's own bare boot to init, from the two rows.
fn with_derived_rows(mut rows: Vec<Row>) -> Vec<Row> {
    let boot = rows.iter().find(|r| r.group == "boot").cloned();
    let run = rows.iter().position(|r| r.group == "run");
    if let (Some(boot), Some(at)) = (boot, run) {
        let derived = Row {
            reference: "runvm boot to guest init".to_owned(),
            reference_values: boot.runvm,
            ..rows[at].clone()
        };
        rows.insert(at + 1, derived);
    }
    rows
}

/// The table, as Markdown.
fn table(rows: &[Row], place: &str) -> String {
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let model = info
                .lines()
                .find(|l| l.starts_with("model name"))?
                .split(':')
                .nth(1)?
                .trim()
                .to_owned();
            let cpus = info.lines().filter(|l| l.starts_with("processor")).count();
            Some(format!("{model}, {cpus} CPUs"))
        })
        .unwrap_or_default();
    let mut out = format!(
        "runvm benchmark table, {date}, {host}, {place}; median (min-max, runs) \
         where a figure has several runs\n\n\
         | measure | unit | runvm | reference | reference's figure | runvm / reference |\n\
         |---|---|---|---|---|---|\n"
    );
    let mut previous_stage = 0.0;
    let mut stage_group = "";
    for row in rows {
        // A stage's reference column says how long it took after the
        // stage before it (groups "stages" and "baseline stages").
        let step;
        let reference = if row.group.ends_with("stages") {
            if row.group != stage_group {
                stage_group = &row.group;
                previous_stage = 0.0;
            }
            let at = stats(&row.runvm).map_or(0.0, |(median, ..)| median);
            step = format!("step (medians): +{}", number(at - previous_stage));
            previous_stage = at;
            &step
        } else {
            &row.reference
        };
        let ratio = match (stats(&row.runvm), stats(&row.reference_values)) {
            // A reference at or below zero is noise (runc's idle memory).
            (Some((a, ..)), Some((b, ..))) if b > 0.0 && a > 0.0 => match a / b {
                ratio if ratio < 0.1 => format!("{ratio:.4}"),
                ratio => format!("{ratio:.2}"),
            },
            _ => String::new(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.measure,
            row.unit,
            summary(&row.runvm),
            reference,
            if row.reference.is_empty() {
                String::new()
            } else {
                summary(&row.reference_values)
            },
            ratio
        ));
    }
    out
}
