//! Helpers shared by the workspace-level tests: the built model, moto, contract suites.

pub mod contract;
pub mod deployment;
pub mod fakes;
pub mod lambda;
pub mod metering;
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

/// The project's venv: `VIGIE_VENV`, else `<workspace>/.venv` (as scripts/setup-python).
pub fn venv() -> PathBuf {
    std::env::var_os("VIGIE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

/// The venv's Python, or `None` (with a note) when it is missing. With
/// `VIGIE_REQUIRE_VENV=1` (set by scripts/test and CI) a missing venv fails the test.
pub fn venv_python() -> Option<PathBuf> {
    let python = venv().join("bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("VIGIE_REQUIRE_VENV").as_deref() == Ok("1") {
        panic!("{} is missing: run scripts/setup-python", python.display());
    }
    eprintln!(
        "skipped: {} is missing (scripts/setup-python installs it)",
        python.display()
    );
    None
}

/// How long a test waits for a condition (a server up, a queue drained) before failing:
/// `VIGIE_TEST_WAIT_SECS`, default 300 s, far beyond what a slow machine needs.
pub fn wait_limit() -> std::time::Duration {
    let secs = std::env::var("VIGIE_TEST_WAIT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    std::time::Duration::from_secs(secs)
}

/// Validates with the venv's `jsonschema`, formats included: fails when a format the
/// schema uses has no checker installed, and proves each checker runs by breaking each
/// formatted field of `value` in turn. Skips (returns false) without a venv, as `venv_python`.
pub fn assert_matches_json_schema(schema: &Path, value: &serde_json::Value) -> bool {
    let Some(python) = venv_python() else {
        return false;
    };
    let out = std::process::Command::new(python)
        .args(["-c", SCHEMA_CHECK])
        .arg(schema)
        .arg(value.to_string())
        .output()
        .expect("the venv's python runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

const SCHEMA_CHECK: &str = r#"
import copy, json, sys
import jsonschema
schema, value = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
checker = jsonschema.FormatChecker()
def formatted(node, path):
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            yield path, node["format"]
        for name, sub in node.get("properties", {}).items():
            yield from formatted(sub, path + [name])
fields = list(formatted(schema, []))
missing = sorted({f for _, f in fields if f not in checker.checkers})
assert not missing, f"no checker for the formats {missing}: tests/requirements.txt pins them"
validator = jsonschema.validators.validator_for(schema)(schema, format_checker=checker)
validator.validate(value)
for path, fmt in fields:
    broken = copy.deepcopy(value)
    node = broken
    for name in path[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
    if not isinstance(node, dict) or path[-1] not in node:
        continue
    node[path[-1]] = "not a valid " + fmt
    assert not validator.is_valid(broken), f"{'.'.join(path)} accepted an invalid {fmt}"
"#;

/// The sample brand folder `samples/brands/acme` as `brand`'s content, its approved
/// replies embedded by `model` (as `vigie brand import` stores them).
pub fn sample_content(
    brand: &vigie_core::comment::BrandId,
    model: &vigie_model::SentimentModel,
) -> vigie_core::content::BrandContent {
    use vigie_core::content::{BrandContent, ContentFiles};
    let dir = workspace_root().join("samples/brands/acme");
    let mut content = BrandContent::from_files(
        brand,
        &ContentFiles::read_dir(&dir).unwrap(),
        vigie_core::time::Timestamp(0),
        "test",
    )
    .unwrap();
    let bodies: Vec<String> = content.replies.iter().map(|r| r.text.clone()).collect();
    for (r, p) in content
        .replies
        .iter_mut()
        .zip(model.classify(&bodies).unwrap())
    {
        r.embedding = Some(vigie_core::understanding::Embedding::quantize(&p.embedding));
    }
    content
}

/// A local chat webhook (`POST /hook`) that records the JSON it receives: its URL and what
/// it got so far.
/// The Graph API's `/<page>/feed` as gap repair reads it, on loopback: the page's post
/// with comment `5_1` (the one the tests' delivery brings) and `5_7`, which no webhook
/// brought, both written a minute ago.
pub async fn graph_stand_in(page: &str) -> String {
    let now = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let at = now
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap();
    let body = serde_json::json!({
        "data": [{
            "id": format!("{page}_5"),
            "permalink_url": format!("https://www.facebook.com/{page}/posts/5"),
            "comments": {"data": [
                {"id": "5_7", "message": "Personne ne répond au service client ?",
                 "from": {"id": "79", "name": "Inès"}, "created_time": at},
                {"id": "5_1", "message": "Le radiateur acheté chez vous a pris feu dans la chambre de ma fille. J'appelle mon avocat, c'est inadmissible.",
                 "from": {"id": "77", "name": "Nadia"}, "created_time": at}
            ]}
        }],
        "paging": {}
    })
    .to_string();
    let app = axum::Router::new().route(
        &format!("/v23.0/{page}/feed"),
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

pub async fn chat_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}
