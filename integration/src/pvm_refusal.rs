//! What a user on a kvm_pvm host must see from `runvm boot`: a prompt,
//! plain refusal instead of a hang or a KVM register dump.

use std::time::Duration;

use crate::process::Finished;

/// The refusal must come this fast.
pub const PROMPT: Duration = Duration::from_secs(1);

/// Words of a KVM register dump or an internal error, which the user must
/// not get instead of the sentence.
const DUMP_WORDS: &[&str] = &[
    "RIP",
    "RAX",
    "RSP",
    "EFER",
    "internal error",
    "emulation failure",
    "panicked",
];

/// Checks `runvm boot`'s run on a kvm_pvm host.
pub fn check(run: &Finished) -> Result<(), String> {
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report = || {
        format!(
            "--- stderr:\n{stderr}--- stdout:\n{}",
            String::from_utf8_lossy(&run.stdout)
        )
    };
    let Some(status) = run.status else {
        return Err(format!(
            "runvm boot hung: killed after {:.1} s\n{}",
            run.elapsed.as_secs_f64(),
            report()
        ));
    };
    if status.success() {
        return Err(format!(
            "runvm boot exited 0 on a kvm_pvm host\n{}",
            report()
        ));
    }
    if run.elapsed > PROMPT {
        return Err(format!(
            "runvm boot took {:.2} s to refuse, more than {} s\n{}",
            run.elapsed.as_secs_f64(),
            PROMPT.as_secs(),
            report()
        ));
    }
    if !stderr.contains("kvm_pvm") {
        return Err(format!("stderr does not name kvm_pvm\n{}", report()));
    }
    if let Some(word) = DUMP_WORDS.iter().find(|word| stderr.contains(*word)) {
        return Err(format!(
            "stderr looks like a register dump or a crash ({word:?})\n{}",
            report()
        ));
    }
    let lines = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count();
    if lines != 1 {
        return Err(format!(
            "stderr should be one sentence, it has {lines} lines\n{}",
            report()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn run(code: Option<i32>, stderr: &str, millis: u64) -> Finished {
        Finished {
            status: code.map(|code| ExitStatus::from_raw(code << 8)),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            elapsed: Duration::from_millis(millis),
        }
    }

    const SENTENCE: &str = "runvm: /dev/kvm is kvm_pvm, which cannot boot runvm's guest kernel\n";

    #[test]
    fn a_prompt_one_sentence_refusal_passes() {
        assert_eq!(check(&run(Some(1), SENTENCE, 20)), Ok(()));
    }

    #[test]
    fn each_way_to_get_it_wrong_fails() {
        let cases = [
            (run(None, "", 10_000), "hung"),
            (run(Some(0), SENTENCE, 20), "exited 0"),
            (run(Some(1), SENTENCE, 1500), "took 1.50 s"),
            (run(Some(1), "runvm: no KVM\n", 20), "does not name kvm_pvm"),
            (
                run(Some(1), "KVM internal error on kvm_pvm\nRIP=0\n", 20),
                "register dump",
            ),
            (run(Some(1), "runvm: kvm_pvm.\nsee also\n", 20), "2 lines"),
        ];
        for (finished, expected) in cases {
            let message = check(&finished).unwrap_err();
            assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        }
    }
}
