//! moto's server (PyPI `moto[server]`, in the project venv) on 127.0.0.1: a local
//! DynamoDB, SQS and SSM. One per test process, stopped when the process exits.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use vigie_core::ports::{Delivery, QueueReceive};

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

fn moto_binary() -> Option<PathBuf> {
    let p = crate::venv().join("bin/moto_server");
    p.exists().then_some(p)
}

/// The port moto reports once it listens (` * Running on http://127.0.0.1:PORT`).
fn reported_port(log: &str) -> Option<u16> {
    let rest = log.split("Running on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The shared server, or `None` (with a note) when moto is not installed. With
/// `VIGIE_REQUIRE_MOTO=1` (scripts/test and CI) a missing moto fails the test instead.
pub fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let Some(bin) = moto_binary() else {
            if std::env::var("VIGIE_REQUIRE_MOTO").as_deref() == Ok("1") {
                panic!("moto_server is not in {}: run scripts/setup-python", crate::venv().display());
            }
            eprintln!("skipped: moto_server is not in the venv (scripts/setup-python installs it)");
            return None;
        };
        // Port 0: moto binds a free port and logs it, so no other process can take it first.
        let log = std::env::temp_dir().join(format!("vigie-moto-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        // A shell watchdog stops moto when this test process goes away, however it ends.
        let script = format!(
            "{} -H 127.0.0.1 -p 0 >/dev/null 2>'{}' & m=$!; while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null; rm -f '{}'",
            bin.display(),
            log.display(),
            std::process::id(),
            log.display(),
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh starts moto");
        let (started, limit) = (Instant::now(), crate::wait_limit());
        let port = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(port) = reported_port(&text) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited ({status}) before listening: {text}");
            }
            assert!(
                started.elapsed() < limit,
                "moto did not report its port within {limit:?} (VIGIE_TEST_WAIT_SECS): {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < limit,
                "moto did not answer on port {port} within {limit:?} (VIGIE_TEST_WAIT_SECS)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        })
    })
    .as_ref()
}

impl Moto {
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }
}

/// A name no other test of this run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh table with vigie's layout.
pub async fn table(conf: &SdkConfig) -> vigie_aws::DynamoStore {
    let name = unique("vigie");
    let client = aws_sdk_dynamodb::Client::new(conf);
    vigie_aws::TableSpec::create(&client, &name)
        .await
        .expect("moto creates the table");
    vigie_aws::DynamoStore::new(client, name)
}

/// A standard queue with a dead-letter queue after `max_receives` receives.
pub async fn queue_with_dlq(
    conf: &SdkConfig,
    max_receives: u32,
) -> (vigie_aws::SqsQueue, vigie_aws::SqsQueue) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = aws_sdk_sqs::Client::new(conf);
    let name = unique("q");
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("dlq")
        .queue_url()
        .unwrap()
        .to_owned();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq arn")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()});
    let url = client
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_owned();
    (
        vigie_aws::SqsQueue::new(client.clone(), url),
        vigie_aws::SqsQueue::new(client, dlq_url),
    )
}

/// Lambda's side of a partial batch response: delete what succeeded, leave the rest to
/// come back (here at once, instead of after the visibility timeout).
pub async fn complete(queue: &vigie_aws::SqsQueue, batch: &[Delivery], failures: &[String]) {
    let done: Vec<String> = batch
        .iter()
        .filter(|d| !failures.contains(&d.message_id))
        .map(|d| d.receipt.clone())
        .collect();
    if !done.is_empty() {
        queue.ack(&done).await.unwrap();
    }
    for d in batch.iter().filter(|d| failures.contains(&d.message_id)) {
        queue.release(&d.receipt, 0).await.unwrap();
    }
}

/// Every message the queue holds, hidden for 60 s: receives until one comes back empty
/// after something came (moto's queues answer at once), or five empty ones.
pub async fn receive_all(queue: &vigie_aws::SqsQueue) -> Vec<Delivery> {
    let mut out = Vec::new();
    let mut empty = 0;
    loop {
        let got = queue.receive(10, 60).await.unwrap();
        if got.is_empty() {
            empty += 1;
            if !out.is_empty() || empty == 5 {
                break;
            }
        }
        out.extend(got);
    }
    out
}
