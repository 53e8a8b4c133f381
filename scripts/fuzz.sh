#!/bin/sh
# Builds runvm's fuzz targets (fuzz/fuzz_targets/*.rs) with libFuzzer's
# coverage instrumentation on stable Rust, runs each for SECONDS (default
# 60) from its committed seed corpus, prints the executions per target and
# fails on any crash, hang (-timeout) or RSS blow-up.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# No nightly and no cargo-fuzz: the flags below are what `cargo fuzz build
# -s none` passes (all stable codegen options), and libfuzzer-sys builds
# libFuzzer itself with the system C++ compiler. New inputs the fuzzer
# finds go to a scratch corpus, not the committed one; a crash is saved
# under fuzz/artifacts/<target>/ (reproduce: run the target binary on it).
set -eu
seconds=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.."
root=$(pwd)
targets=${*:-"virtqueue vsock_packet fuse_request bundle_config agent_frame virtio_net"}
# A target directory of its own: `cargo test` holds the workspace's while
# it runs this, and the instrumented build must not mix with the normal one.
target_dir=${CARGO_TARGET_DIR:-$root/target}/fuzz
triple=x86_64-unknown-linux-gnu

RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing"
export RUSTFLAGS
bins=""
for t in $targets; do bins="$bins --bin $t"; done
echo "fuzz: building $targets"
# --target keeps build scripts and proc macros uninstrumented. Not
# --locked: fuzz/Cargo.lock follows the workspace's crates, which change.
# shellcheck disable=SC2086
cargo build --manifest-path fuzz/Cargo.toml --release \
    --target "$triple" --target-dir "$target_dir" $bins

scratch=$(mktemp -d "${TMPDIR:-/tmp}/runvm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=""
for t in $targets; do
    mkdir -p "$scratch/$t" "$root/fuzz/artifacts/$t"
    log="$scratch/$t.log"
    status=0
    # The committed seeds are read only; new inputs go to the scratch dir.
    "$target_dir/$triple/release/$t" "$scratch/$t" "$root/fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -close_fd_mask=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 || true)
    if [ "$status" -eq 0 ] && [ -n "$execs" ]; then
        echo "fuzz: $t: ${execs} executions in ${seconds} s (${rate}/s, ${cov:-cov: ?}), 0 crashes"
    else
        echo "fuzz: $t: FAILED (exit $status) after ${execs:-?} executions; log tail:"
        tail -n 40 "$log" | sed 's/^/    /'
        failed="$failed $t"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: crashes in:$failed (inputs under fuzz/artifacts/)"
    exit 1
fi
echo "fuzz: all targets ran with 0 crashes"
