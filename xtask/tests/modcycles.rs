//! No crate of the workspace has an import circle between its modules
//! (what `cargo xtask modcycles` reports).

#[test]
fn no_crate_has_an_import_circle() {
    let workspace = xtask::workspace_root();
    let found = xtask::modcycles::workspace_circles(&workspace).unwrap();
    assert!(found.len() >= 8, "workspace members: {:?}", found.keys());
    let circles: Vec<String> = found
        .iter()
        .flat_map(|(krate, circles)| {
            circles
                .iter()
                .map(move |circle| format!("{}: {}", krate.display(), circle.modules.join(" <-> ")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}
