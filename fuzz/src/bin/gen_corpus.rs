//! Writes the seed corpora to fuzz/corpus/<target>/ (run from anywhere:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin gen_corpus`). Built
//! without libFuzzer's instrumentation.

use std::path::Path;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in [
        ("virtqueue", runvm_fuzz::seed::virtqueue()),
        ("vsock_packet", runvm_fuzz::seed::vsock_packet()),
        ("fuse_request", runvm_fuzz::seed::fuse_request()),
        ("bundle_config", runvm_fuzz::seed::bundle_config()),
        ("agent_frame", runvm_fuzz::seed::agent_frame()),
        ("virtio_net", runvm_fuzz::seed::virtio_net()),
    ] {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed");
        }
    }
    println!("seeds written to {}", corpus.display());
}
