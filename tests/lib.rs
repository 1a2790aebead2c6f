//! Helpers shared by the workspace-level tests: the built model, moto, contract suites.

pub mod contract;
pub mod fakes;
pub mod moto;

use std::path::{Path, PathBuf};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built model folder, or `None` (with a note) when it is not built. With
/// `VIGIE_REQUIRE_FULL_MODEL=1` (set by scripts/test and CI) a missing model fails the test.
pub fn full_model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VIGIE_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("model/dist"));
    if dir.join("model.json").exists() {
        return Some(dir);
    }
    if std::env::var("VIGIE_REQUIRE_FULL_MODEL").as_deref() == Ok("1") {
        panic!("{} holds no model: run scripts/build-model", dir.display());
    }
    eprintln!(
        "skipped: {} holds no model (scripts/build-model builds it)",
        dir.display()
    );
    None
}
