//! Finding and loading the ONNX Runtime shared library, once per process.

use std::path::{Path, PathBuf};

/// The library this process loaded, once a model has been loaded.
pub fn loaded_path() -> Option<&'static Path> {
    match RUNTIME.get()? {
        Ok((path, _)) => Some(path.as_path()),
        Err(_) => None,
    }
}
use std::sync::OnceLock;

use crate::ModelError;

type Loaded = (PathBuf, ort::environment::Environment);
static RUNTIME: OnceLock<Result<Loaded, (Option<PathBuf>, String)>> = OnceLock::new();

/// `ORT_DYLIB_PATH` if set, else the library of the project's venv (`.venv/lib/python3.*/
/// site-packages/onnxruntime/capi/libonnxruntime.so*`) found from the current directory up.
pub fn locate() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().find_map(venv_library)
}

fn venv_library(root: &Path) -> Option<PathBuf> {
    let lib = root.join(".venv").join("lib");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/onnxruntime/capi"))
        .filter_map(|capi| std::fs::read_dir(capi).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    candidates.sort();
    candidates.pop()
}

/// Loads the library the first time it is called; later calls return the first outcome.
pub fn ensure_loaded() -> Result<&'static ort::environment::Environment, ModelError> {
    let outcome = RUNTIME.get_or_init(|| {
        let Some(path) = locate() else {
            return Err((None, String::new()));
        };
        if !path.is_file() {
            return Err((Some(path), String::new()));
        }
        // The environment is kept for the life of the process: sessions share its thread pools.
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| b.with_name("vigie").build().map_err(|e| e.to_string()));
        match env {
            Ok(env) => Ok((path, env)),
            Err(reason) => Err((Some(path), reason)),
        }
    });
    match outcome {
        Ok((_path, env)) => Ok(env),
        Err((path, reason)) if reason.is_empty() => {
            Err(ModelError::RuntimeMissing { path: path.clone() })
        }
        Err((path, reason)) => Err(ModelError::RuntimeLoad {
            path: path.clone().unwrap_or_default(),
            reason: reason.clone(),
        }),
    }
}
