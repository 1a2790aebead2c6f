//! Its own test binary: the ONNX Runtime library is loaded once per process.

use std::path::Path;

use vigie_model::{ModelError, ModelOptions, SentimentModel};

#[test]
fn a_missing_runtime_says_where_to_point_ort_dylib_path() {
    // SAFETY: the only test of this binary; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so") };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tiny");
    let err = SentimentModel::load(&ModelOptions::new(dir)).unwrap_err();
    match &err {
        ModelError::RuntimeMissing { path } => {
            assert_eq!(
                path.as_deref(),
                Some(Path::new("/nonexistent/libonnxruntime.so"))
            )
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("ORT_DYLIB_PATH"));
}
