use std::path::PathBuf;

/// Everything that can go wrong loading or running the model, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "model file {path} is missing: build the model with `scripts/build-model`, or set VIGIE_MODEL_DIR to a folder holding model.json, model.onnx and tokenizer.json"
    )]
    FileMissing { path: PathBuf },

    #[error("model file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    #[error(
        "model file {path}: sha256 {actual} differs from {expected} recorded in model.json; rebuild the model with `scripts/build-model`"
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "ONNX Runtime library not found{}: set ORT_DYLIB_PATH to the libonnxruntime.so shipped in the PyPI onnxruntime wheel (`scripts/setup-python` installs it under .venv/lib/python3.*/site-packages/onnxruntime/capi/)",
        .path.as_ref().map(|p| format!(" at {}", p.display())).unwrap_or_default()
    )]
    RuntimeMissing { path: Option<PathBuf> },

    #[error("ONNX Runtime library {path} could not be loaded: {reason}")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("model {path} does not have the expected signature: {reason}")]
    Signature { path: PathBuf, reason: String },

    #[error(
        "signal heads {path} were trained for model {heads_for}, not {model}: rebuild them with `scripts/build-model`"
    )]
    HeadsMismatch {
        path: PathBuf,
        heads_for: String,
        model: String,
    },

    #[error("text #{index} is empty: there is nothing to classify")]
    EmptyText { index: usize },

    #[error("tokenizer failed: {0}")]
    Tokenize(String),

    #[error("inference failed: {0}")]
    Inference(String),
}

impl From<ort::Error> for ModelError {
    fn from(e: ort::Error) -> Self {
        ModelError::Inference(e.to_string())
    }
}
