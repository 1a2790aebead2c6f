//! Cold start of the classify function: its binary started as a new process under cargo
//! lambda's Runtime API emulator (configuration, model and clients loaded, as Lambda's
//! init), then invoked at once with one comment to classify (cold), then again with
//! another (warm). `cold - warm` is what the start adds to the first comment: the init
//! Lambda reports, plus the first inference's warm-up. Against moto on loopback.
//!
//!   scripts/package    # the packaged bootstraps and layers, in target/lambda, infra/layers
//!   cargo bench -p vigie-tests --profile dev --bench cold_start -- [--rounds N] [--one-cpu]
//!
//! (the bench's own build profile does not matter: it times another process)
//!
//! `--one-cpu` runs the function under `taskset -c 0`: one core, as Lambda gives 1,769 MB.
//! Without `VIGIE_LAMBDA_DIR`, it runs `target/lambda` when packaged, else the binary cargo
//! built beside this bench.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vigie_core::intake::ClassifyRequest;
use vigie_core::ports::{CommentWrite, Delivery};
use vigie_tests::lambda::{
    Binaries, Emulator, ONE_CPU, Opt, bench_arg, failures, moto_environment, prefer_packaged,
    queue_arn, sqs_event, template_environment,
};
use vigie_tests::moto::{moto, queue_with_dlq, table};

const CONFIG: &str = "[meta]\napp_secret = { env = \"UNUSED\" }\nverify_token = { env = \"UNUSED\" }\n\n\
    [[brands]]\nid = \"acme\"\nname = \"Acme\"\nfacebook_page_ids = [\"1001\"]\n";

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn row(name: &str, values: &mut [f64]) {
    values.sort_by(f64::total_cmp);
    println!(
        "{name:<34}{:>9.0}{:>9.0}{:>9.0}{:>9.0}",
        values[0],
        quantile(values, 0.5),
        quantile(values, 0.9),
        values[values.len() - 1]
    );
}

fn main() {
    let rounds: usize = bench_arg("--rounds", 10);
    let one_cpu = std::env::args().any(|a| a == "--one-cpu");
    prefer_packaged();
    let model_dir = vigie_tests::full_model_dir().expect("the model (scripts/build-model)");
    let moto = moto().expect("moto (scripts/setup-python)");
    let mut emulator = Emulator::start().expect("cargo lambda (scripts/setup-infra)");
    let binaries = Binaries::from_env();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (store, escalations, drafts, conf) = runtime.block_on(async {
        let conf = moto.sdk_config().await;
        let store = table(&conf).await;
        let (escalations, _) = queue_with_dlq(&conf, 3).await;
        let (drafts, _) = queue_with_dlq(&conf, 3).await;
        (store, escalations, drafts, conf)
    });
    drop(conf);
    let opt = Opt::new(binaries.packaged(), &model_dir, CONFIG);
    let refs: BTreeMap<&str, String> = [
        ("Table", store.table_name().to_owned()),
        ("EscalationQueue", escalations.url().to_owned()),
        ("DraftQueue", drafts.url().to_owned()),
    ]
    .into_iter()
    .collect();
    let mut env = template_environment("vigie-classify", &refs, &opt);
    env.extend(moto_environment(&moto.endpoint));
    let executable = binaries.path("vigie-classify");
    let wrap: &[&str] = if one_cpu { ONE_CPU } else { &[] };

    let texts = [
        "Commande reçue avec deux semaines de retard et personne ne répond au service client.",
        "Thanks for the quick answer yesterday, the replacement arrived this morning!",
    ];
    let request = |round: usize, i: usize| -> Delivery {
        let id = format!("cold-{round}-{i}");
        let c = vigie_tests::contract::comment("acme", &id, "1001_7", texts[i], 1_764_086_400_000);
        runtime.block_on(store.insert_if_new(&c)).unwrap();
        let body = serde_json::to_string(&ClassifyRequest {
            key: c.key.clone(),
            version: c.version,
        })
        .unwrap();
        Delivery {
            message_id: format!("m-{id}"),
            receipt: format!("r-{id}"),
            body,
            attributes: Vec::new(),
            receive_count: 1,
        }
    };

    println!(
        "classify cold start: {rounds} rounds, {} ({}), moto on loopback",
        executable.display(),
        if one_cpu { "one CPU" } else { "all CPUs" }
    );
    let (mut cold, mut warm, mut added, mut rss) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let first = request(round, 0);
        let second = request(round, 1);
        let started = Instant::now();
        emulator.run("vigie-classify", &executable, &env, wrap);
        let response = emulator.invoke(
            "vigie-classify",
            &sqs_event(&queue_arn("classify"), &[first]),
        );
        let cold_ms = started.elapsed().as_secs_f64() * 1e3;
        assert!(failures(&response).is_empty(), "{response}");
        let t = Instant::now();
        let response = emulator.invoke(
            "vigie-classify",
            &sqs_event(&queue_arn("classify"), &[second]),
        );
        let warm_ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(failures(&response).is_empty(), "{response}");
        rss.push(emulator.peak_rss_mb("vigie-classify").unwrap_or(f64::NAN));
        emulator.stop("vigie-classify");
        eprintln!(
            "  round {}/{rounds}: cold {cold_ms:.0} ms, warm {warm_ms:.0} ms",
            round + 1
        );
        cold.push(cold_ms);
        warm.push(warm_ms);
        added.push(cold_ms - warm_ms);
        std::thread::sleep(Duration::from_millis(50));
    }
    println!(
        "{:<34}{:>9}{:>9}{:>9}{:>9}",
        "ms (MB for memory)", "min", "p50", "p90", "max"
    );
    row("start + first comment (cold)", &mut cold);
    row("next comment (warm)", &mut warm);
    row("cold - warm (what the start adds)", &mut added);
    row("peak resident memory, MB", &mut rss);
}
