//! The Lambda functions as Lambda runs them: each binary (the packaged `bootstrap` of
//! `scripts/package`, or the one cargo built for this machine) started as its own
//! process against `cargo lambda watch --only-lambda-apis`, the Runtime API emulator,
//! with the environment infra/template.yaml gives it, and invoked through
//! `cargo lambda invoke`. Events are built as Lambda's event sources build them.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigie_core::ports::Delivery;

use crate::workspace_root;

/// `.venv-infra` (scripts/setup-infra): cargo lambda and the SAM CLI.
pub fn infra_venv() -> PathBuf {
    std::env::var_os("VIGIE_INFRA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-infra"))
}

fn cargo_lambda() -> Option<PathBuf> {
    let p = infra_venv().join("bin/cargo-lambda");
    if p.exists() {
        return Some(p);
    }
    if std::env::var("VIGIE_REQUIRE_INFRA").as_deref() == Ok("1") {
        panic!("{} is missing: run scripts/setup-infra", p.display());
    }
    eprintln!("skipped: cargo-lambda is not in .venv-infra (scripts/setup-infra installs it)");
    None
}

/// Every function binary infra/template.yaml deploys.
pub const FUNCTIONS: [&str; 7] = [
    "vigie-webhook",
    "vigie-classify",
    "vigie-draft",
    "vigie-notify",
    "vigie-review",
    "vigie-sweep",
    "vigie-poll",
];

/// What points a function's AWS SDK at moto (`endpoint`) instead of AWS.
pub fn moto_environment(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into()
}

/// The ARN an SQS event names its queue `name` by.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:123456789012:{name}")
}

/// Where the function binaries come from.
pub enum Binaries {
    /// `VIGIE_LAMBDA_DIR`: cargo lambda's output, `<binary>/bootstrap.zip` each, unzipped
    /// into a folder of the test's, as Lambda unzips a package into /var/task.
    Packaged {
        zips: PathBuf,
        unzipped: tempfile::TempDir,
    },
    /// The binaries cargo built beside this test (`cargo build --bins`).
    Built(PathBuf),
}

impl Binaries {
    pub fn from_env() -> Self {
        match std::env::var_os("VIGIE_LAMBDA_DIR") {
            // relative to the workspace, as scripts/package writes it
            Some(dir) => Binaries::Packaged {
                zips: workspace_root().join(dir),
                unzipped: tempfile::tempdir().unwrap(),
            },
            None => {
                let exe = std::env::current_exe().unwrap();
                // target/<profile>/deps/<test> → target/<profile>
                let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
                Binaries::Built(dir)
            }
        }
    }

    pub fn packaged(&self) -> bool {
        matches!(self, Binaries::Packaged { .. })
    }

    /// The executable of `binary`.
    pub fn path(&self, binary: &str) -> PathBuf {
        match self {
            Binaries::Packaged { zips, unzipped } => {
                let zip = zips.join(binary).join("bootstrap.zip");
                let dest = unzipped.path().join(binary);
                if !dest.join("bootstrap").exists() {
                    assert!(
                        zip.exists(),
                        "{} is missing: run scripts/package",
                        zip.display()
                    );
                    let status = Command::new("unzip")
                        .arg("-q")
                        .arg(&zip)
                        .arg("-d")
                        .arg(&dest)
                        .status()
                        .expect("unzip runs");
                    assert!(status.success(), "unzip {}", zip.display());
                }
                dest.join("bootstrap")
            }
            Binaries::Built(dir) => {
                let p = dir.join(binary);
                assert!(
                    p.exists(),
                    "{} is missing: build the function binaries first (cargo build --bins)",
                    p.display()
                );
                p
            }
        }
    }
}

/// What `/opt` holds for a function: the template's layers. Packaged: the layers
/// `scripts/package` filled (model, ONNX Runtime, dictionaries); built: the same files from
/// where this machine keeps them. The brand configuration is always the test's.
pub struct Opt {
    pub dir: tempfile::TempDir,
}

impl Opt {
    pub fn new(packaged: bool, model_dir: &Path, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::write(root.join("config/brands.toml"), config).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        let layers = workspace_root().join("infra/layers");
        let link = |from: &Path, to: &str| {
            assert!(from.exists(), "{} is missing", from.display());
            std::os::unix::fs::symlink(from, root.join(to)).unwrap();
        };
        if packaged {
            link(&layers.join("model/model"), "model");
            link(
                &layers.join("model/lib/libonnxruntime.so"),
                "lib/libonnxruntime.so",
            );
            link(&layers.join("dictionaries"), "dictionaries");
        } else {
            link(model_dir, "model");
            let ort = vigie_model::runtime::locate()
                .expect("libonnxruntime.so: ORT_DYLIB_PATH or the venv (scripts/setup-python)");
            link(&ort, "lib/libonnxruntime.so");
            let hunspell = std::env::var_os("VIGIE_DICTIONARIES")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/usr/share/hunspell"));
            link(&hunspell, "dictionaries");
        }
        Opt { dir }
    }

    /// A template value under /opt, here.
    pub fn resolve(&self, value: &str) -> String {
        match value.strip_prefix("/opt/") {
            Some(rest) => self.dir.path().join(rest).display().to_string(),
            None => value.to_owned(),
        }
    }
}

/// infra/template.yaml, parsed.
pub fn template() -> serde_yaml::Value {
    let text = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// The function resource of `template` built from `binary`.
pub fn template_function<'a>(
    template: &'a serde_yaml::Value,
    binary: &str,
) -> &'a serde_yaml::Value {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .unwrap_or_else(|| panic!("no function of infra/template.yaml is built from {binary}"))
}

/// The `wrap` of [`Emulator::run`] that holds a function to one CPU, as Lambda gives 1,769 MB.
pub const ONE_CPU: &[&str] = &["taskset", "-c", "0"];

/// For a bench: the value after `--name` on the command line, or `default`.
pub fn bench_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// For a bench, before any thread starts: the packaged bootstraps of `scripts/package`
/// when target/lambda holds them and `VIGIE_LAMBDA_DIR` names nothing else.
pub fn prefer_packaged() {
    if std::env::var_os("VIGIE_LAMBDA_DIR").is_none()
        && workspace_root()
            .join("target/lambda/vigie-classify/bootstrap.zip")
            .exists()
    {
        // SAFETY: the benches call this first, before any other thread starts.
        unsafe { std::env::set_var("VIGIE_LAMBDA_DIR", "target/lambda") };
    }
}

/// The environment infra/template.yaml gives the function built from `binary`: the
/// globals, then its own variables; `!Ref`s resolved by `refs` (a reference the test does
/// not resolve fails it), paths under /opt by `opt`.
pub fn template_environment(
    binary: &str,
    refs: &BTreeMap<&str, String>,
    opt: &Opt,
) -> Vec<(String, String)> {
    use serde_yaml::Value as Y;
    let t = template();
    let function = template_function(&t, binary);
    let mut out = Vec::new();
    for vars in [
        &t["Globals"]["Function"]["Environment"]["Variables"],
        &function["Properties"]["Environment"]["Variables"],
    ] {
        let Some(vars) = vars.as_mapping() else {
            continue;
        };
        for (k, v) in vars {
            let k = k.as_str().unwrap().to_owned();
            let v = match v {
                Y::String(s) => opt.resolve(s),
                Y::Number(n) => n.to_string(),
                Y::Tagged(tag) if tag.tag == "!Ref" => {
                    let name = tag.value.as_str().unwrap();
                    refs.get(name)
                        .unwrap_or_else(|| {
                            panic!(
                                "{binary}: {k} refers to {name}, which the test does not provide"
                            )
                        })
                        .clone()
                }
                other => panic!("{binary}: {k} = {other:?} is not a value the test resolves"),
            };
            out.retain(|(name, _): &(String, String)| *name != k);
            out.push((k, v));
        }
    }
    out
}

/// `cargo lambda watch --only-lambda-apis` on a loopback port, stopped with the test.
pub struct Emulator {
    pub port: u16,
    cargo_lambda: PathBuf,
    child: Child,
    functions: Vec<Function>,
    logs: tempfile::TempDir,
}

/// A function process serving the emulator's invocations.
pub struct Function {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    pub started: Instant,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Emulator {
    /// `None` (with a note) when cargo lambda is not installed; with
    /// `VIGIE_REQUIRE_INFRA=1` (scripts/test) that fails instead.
    pub fn start() -> Option<Self> {
        let cargo_lambda = cargo_lambda()?;
        let logs = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(logs.path().join("emulator.log")).unwrap();
        let child = Command::new(&cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cargo lambda watch starts");
        let (started, limit) = (Instant::now(), crate::wait_limit());
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < limit,
                "the emulator did not listen on {port} within {limit:?}: {}",
                std::fs::read_to_string(logs.path().join("emulator.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Emulator {
            port,
            cargo_lambda,
            child,
            functions: Vec::new(),
            logs,
        })
    }

    /// Starts `executable` as the function `name`, with Lambda's variables and `env`;
    /// `wrap` runs it under another command (e.g. `taskset -c 0`).
    pub fn run(
        &mut self,
        name: &str,
        executable: &Path,
        env: &[(String, String)],
        wrap: &[&str],
    ) -> &Function {
        let log = self.logs.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(executable);
                c
            }
            None => Command::new(executable),
        };
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("LAMBDA_TASK_ROOT", executable.parent().unwrap())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let started = Instant::now();
        let child = cmd.spawn().expect("the function starts");
        self.functions.push(Function {
            name: name.to_owned(),
            child,
            log,
            started,
        });
        self.functions.last().unwrap()
    }

    /// The function's peak resident memory so far (VmHWM), in MB.
    pub fn peak_rss_mb(&self, name: &str) -> Option<f64> {
        let pid = self.function(name).child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// Stops the function `name` (a new `run` starts it cold).
    pub fn stop(&mut self, name: &str) {
        if let Some(i) = self.functions.iter().position(|f| f.name == name) {
            let mut f = self.functions.remove(i);
            let _ = f.child.kill();
            let _ = f.child.wait();
        }
    }

    pub fn function(&self, name: &str) -> &Function {
        self.functions
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"))
    }

    /// `cargo lambda invoke NAME --data-file ...`: the function's answer, as JSON.
    pub fn invoke(&mut self, name: &str, payload: &Value) -> Value {
        let file = self.logs.path().join(format!("{name}-event.json"));
        std::fs::write(&file, payload.to_string()).unwrap();
        let mut invoke = Command::new(&self.cargo_lambda)
            .args(["lambda", "invoke", name, "--output-format", "json"])
            .args(["-A", "127.0.0.1", "-P", &self.port.to_string()])
            .arg("--data-file")
            .arg(&file)
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cargo lambda invoke runs");
        // The emulator waits for an answer as long as the function lives: watch both.
        let (started, limit) = (Instant::now(), crate::wait_limit());
        while invoke.try_wait().unwrap().is_none() {
            let log = |f: &Function| std::fs::read_to_string(&f.log).unwrap_or_default();
            if let Some(f) = self.functions.iter_mut().find(|f| f.name == name)
                && let Ok(Some(status)) = f.child.try_wait()
            {
                let _ = invoke.kill();
                panic!("{name} exited ({status}): {}", log(f));
            }
            if started.elapsed() > limit {
                let _ = invoke.kill();
                let f = self.function(name);
                panic!("{name} did not answer within {limit:?}: {}", log(f));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = invoke.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "invoking {name} failed: {}{}\n{name}'s log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.function(name).log).unwrap_or_default()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{name} answered no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The function's log so far, one JSON object per line (anything else fails).
    pub fn log_lines(&self, name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.function(name).log).unwrap();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{name} logged a line that is not JSON ({e}): {l}"))
            })
            .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for f in &mut self.functions {
            let _ = f.child.kill();
            let _ = f.child.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API Gateway HTTP API (payload 2.0) request event, as the HTTP API hands it to a
/// function: headers lower-cased, the query apart, a text body as is.
pub fn http_event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), Value::from(*v)))
        .collect();
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("abc123.execute-api.eu-west-3.amazonaws.com")
        .to_owned();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or("abc123"),
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "vigie-test"
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "03/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1_796_292_000_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// What Lambda's SQS event source hands a function for `deliveries` of `queue_arn`.
pub fn sqs_event(queue_arn: &str, deliveries: &[Delivery]) -> Value {
    let records: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            let attributes: serde_json::Map<String, Value> = d
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), json!({"stringValue": v, "dataType": "String"})))
                .collect();
            json!({
                "messageId": d.message_id,
                "receiptHandle": d.receipt,
                "body": d.body,
                "attributes": {
                    "ApproximateReceiveCount": d.receive_count.to_string(),
                    "SentTimestamp": "1796292000000",
                    "SenderId": "123456789012",
                    "ApproximateFirstReceiveTimestamp": "1796292000001"
                },
                "messageAttributes": attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// A scheduled event, as EventBridge hands it over (the sweep reads none of it).
pub fn schedule_event() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-03T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/vigie-sweep"],
        "detail": {}
    })
}

/// The message ids a partial batch response asks to retry.
pub fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the policies infra/template.yaml gives the function built from `binary` allow
/// `permission`: a statement with its action and, for DynamoDB, the table (`!GetAtt
/// Table.Arn`) or the index it reads (`!Sub ${Table.Arn}/index/<name>` or `/index/*`).
/// Queues and parameters are checked by action only.
pub fn policy_allows(
    template: &serde_yaml::Value,
    binary: &str,
    permission: &crate::metering::Permission,
) -> bool {
    use serde_yaml::Value as Y;
    let as_list = |v: &Y| -> Vec<Y> {
        match v {
            Y::Sequence(s) => s.clone(),
            Y::Null => Vec::new(),
            other => vec![other.clone()],
        }
    };
    let rendered = |v: &Y| -> Option<(String, String)> {
        match v {
            Y::Tagged(t) => Some((
                t.tag.to_string().trim_start_matches('!').to_owned(),
                t.value.as_str()?.to_owned(),
            )),
            Y::String(s) => Some((String::new(), s.clone())),
            _ => None,
        }
    };
    let covers = |resource: &(String, String)| -> bool {
        if !permission.action.starts_with("dynamodb:") {
            return true;
        }
        match &permission.index {
            None => resource.0 == "GetAtt" && resource.1 == "Table.Arn",
            Some(index) => {
                resource.0 == "Sub"
                    && [
                        format!("${{Table.Arn}}/index/{index}"),
                        "${Table.Arn}/index/*".into(),
                    ]
                    .contains(&resource.1)
            }
        }
    };
    let function = template_function(template, binary);
    as_list(&function["Properties"]["Policies"])
        .iter()
        .flat_map(|p| as_list(&p["Statement"]))
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .any(|s| {
            as_list(&s["Action"])
                .iter()
                .any(|a| a.as_str() == Some(permission.action.as_str()))
                && as_list(&s["Resource"])
                    .iter()
                    .filter_map(rendered)
                    .any(|r| covers(&r))
        })
}
