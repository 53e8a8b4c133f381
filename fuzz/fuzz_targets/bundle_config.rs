//! The bundle loader on a fuzzed config.json: `runvm::oci::bundle::load` on a
//! temporary bundle (config.json and a rootfs directory), then what
//! `create` does with the spec before it boots anything: the VM size and
//! the share plan. Input: one flags byte (bit 0: the verb needs a process),
//! then the bytes of config.json.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use runvm_fuzz::TempDir;

fn bundle() -> &'static (TempDir, PathBuf) {
    static BUNDLE: OnceLock<(TempDir, PathBuf)> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = TempDir::new("bundle");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).expect("rootfs");
        (dir, bundle)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, config)) = data.split_first() else {
        return;
    };
    let (_, dir) = bundle();
    std::fs::write(dir.join("config.json"), config).expect("writing config.json");
    let Ok(bundle) = runvm::oci::bundle::load(dir, flags & 1 != 0) else {
        return;
    };
    assert!(bundle.rootfs.is_dir());
    let _ = runvm::oci::sizing::vm_size(&bundle.spec, 2);
    let share = dir.join("share");
    let (spec, binds) = runvm::monitor::sandbox::share::plan(
        &bundle.spec,
        &bundle.dir,
        &bundle.rootfs,
        &share,
        std::path::Path::new(""),
    );
    assert!(spec.root().is_some());
    assert!(binds
        .iter()
        .all(|(_, target, _, _)| target.starts_with(&share)));
});
