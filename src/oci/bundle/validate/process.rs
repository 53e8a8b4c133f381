//! `process`: args, env, cwd, console size, rlimits, priorities.

use oci_spec::runtime::Process;

use super::problem::{has_nul, invalid, Problem};
use crate::oci::bundle::BundleError;

/// `KEY=VALUE` entries: a non-empty key, no NUL.
pub(super) fn env(field: &str, env: Option<&Vec<String>>) -> Result<(), BundleError> {
    for (index, entry) in env.into_iter().flatten().enumerate() {
        let field = format!("{field}[{index}]");
        if has_nul(entry) {
            return Err(invalid(field, Problem::Nul));
        }
        if entry.split_once('=').is_none_or(|(key, _)| key.is_empty()) {
            return Err(invalid(field, Problem::NotKeyValue(entry.clone())));
        }
    }
    Ok(())
}

pub(super) fn process(process: &Process) -> Result<(), BundleError> {
    let args = process.args().as_deref().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args", Problem::Empty));
    }
    for (index, arg) in args.iter().enumerate() {
        if has_nul(arg) {
            return Err(invalid(format!("process.args[{index}]"), Problem::Nul));
        }
    }
    if args[0].is_empty() {
        return Err(invalid("process.args[0]", Problem::Empty));
    }
    env("process.env", process.env().as_ref())?;
    // Only as text: the cwd is resolved in the guest, in the container.
    let cwd = process.cwd();
    if has_nul(cwd) {
        return Err(invalid("process.cwd", Problem::Nul));
    }
    if !cwd.is_absolute() {
        return Err(invalid("process.cwd", Problem::Relative(cwd.clone())));
    }
    // consoleSize is ignored without a terminal, as the spec says.
    if let (Some(true), Some(size)) = (process.terminal(), process.console_size()) {
        for (field, value) in [("height", size.height()), ("width", size.width())] {
            if value > u64::from(u16::MAX) {
                let range = "0..=65535";
                let value = i128::from(value);
                let field = format!("process.consoleSize.{field}");
                return Err(invalid(field, Problem::Range { value, range }));
            }
        }
    }
    let mut types = Vec::new();
    for (index, rlimit) in process.rlimits().iter().flatten().enumerate() {
        let field = format!("process.rlimits[{index}]");
        if types.contains(&rlimit.typ()) {
            let problem = Problem::Duplicate(rlimit.typ().to_string());
            return Err(invalid(format!("{field}.type"), problem));
        }
        if rlimit.soft() > rlimit.hard() {
            let (soft, hard) = (rlimit.soft(), rlimit.hard());
            return Err(invalid(field, Problem::SoftAboveHard { soft, hard }));
        }
        types.push(rlimit.typ());
    }
    if let Some(score) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&score) {
            let problem = Problem::Range {
                value: score.into(),
                range: "-1000..=1000",
            };
            return Err(invalid("process.oomScoreAdj", problem));
        }
    }
    if let Some(io) = process.io_priority() {
        if !(0..=7).contains(&io.priority()) {
            let problem = Problem::Range {
                value: io.priority().into(),
                range: "0..=7",
            };
            return Err(invalid("process.ioPriority.priority", problem));
        }
    }
    // The guest agent refuses these rather than run the process otherwise
    // than asked.
    if process.scheduler().is_some() {
        return Err(invalid(
            "process.scheduler",
            Problem::Unsupported("a scheduler".into()),
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(invalid(
            "process.execCPUAffinity",
            Problem::Unsupported("a CPU affinity".into()),
        ));
    }
    Ok(())
}
