//! kill -9 of `vigie serve` while deliveries are in flight, restarted on the same SQLite
//! file: every delivery answered 200 ends as exactly one stored, triaged comment.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::{Serve, chat_hook, delivery, wait_until};

const TEXTS: [&str; 4] = [
    "Colis jamais reçu, c'est inadmissible",
    "Merci pour la livraison rapide !",
    "The app has been down all morning",
    "Quand ouvrez-vous dimanche ?",
];

/// Sends `ids` with `parallel` requests at a time until they are all sent or the server
/// is gone; the ids answered 200 are added to `accepted`.
async fn send(base: String, ids: Vec<String>, accepted: Arc<Mutex<BTreeSet<String>>>) {
    let http = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(ids));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, base, queue, accepted) = (
            http.clone(),
            base.clone(),
            Arc::clone(&queue),
            Arc::clone(&accepted),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let Some(id) = queue.lock().unwrap().pop() else {
                    return;
                };
                let n: usize = id.rsplit('_').next().unwrap().parse().unwrap();
                let (body, signature) = delivery(&id, TEXTS[n % TEXTS.len()]);
                let answer = http
                    .post(format!("{base}/webhooks/facebook"))
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                match answer {
                    Ok(a) if a.status().is_success() => {
                        accepted.lock().unwrap().insert(id);
                    }
                    Ok(a) => panic!("{id}: {}", a.status()),
                    Err(_) => {} // the server was killed under it
                }
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
}

async fn json(http: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Starts sending `ids`, kills the server once `kill_after` more of them are accepted,
/// and returns after the senders have stopped.
async fn kill_while_sending(
    server: Serve,
    ids: Vec<String>,
    accepted: &Arc<Mutex<BTreeSet<String>>>,
    kill_after: usize,
) {
    let before = accepted.lock().unwrap().len();
    let sending = tokio::spawn(send(server.base(), ids, Arc::clone(accepted)));
    wait_until("deliveries accepted before the kill", || async {
        accepted.lock().unwrap().len() >= before + kill_after
    })
    .await;
    server.kill();
    sending.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_answered_200_is_triaged_once_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vigie.db");
    let token = common::reviewer_token(&db);
    let hook = chat_hook();
    // Messages received before a crash stay hidden for an hour: only their release at
    // start-up can bring them back within this test.
    let start = || Serve::start(&db, &hook, &["--visibility-timeout", "3600"]);
    let ids = |round: usize| -> Vec<String> {
        (0..300)
            .map(|n| format!("{}_{round}{n:03}", common::ACME_PAGE))
            .collect()
    };
    let accepted: Arc<Mutex<BTreeSet<String>>> = Arc::default();

    // Killed twice while deliveries are in flight and classification is running.
    kill_while_sending(start(), ids(1), &accepted, 120).await;
    kill_while_sending(start(), ids(2), &accepted, 120).await;

    let server = start();
    let http = reqwest::Client::new();
    let base = server.base();
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() >= 240);
    wait_until("every accepted delivery triaged", || {
        let (http, base, accepted, token) =
            (http.clone(), base.clone(), accepted.clone(), token.clone());
        async move {
            let metrics = json(&http, &format!("{base}/metrics"), "").await;
            if metrics["queues"]["classify"]["waiting"] != 0 {
                return false;
            }
            for id in &accepted {
                let c = json(
                    &http,
                    &format!("{base}/api/brands/acme/comments/facebook/{id}"),
                    &token,
                )
                .await;
                if c["state"] != "triaged" {
                    return false;
                }
            }
            true
        }
    })
    .await;

    let metrics = json(&http, &format!("{base}/metrics"), "").await;
    assert_eq!(
        metrics["queues"]["classify"]["dead_letters"], 0,
        "{metrics}"
    );
    // Each accepted comment is listed once among the open comments, nothing else is.
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = vec![];
    let mut page = format!("{base}/api/brands/acme/comments?limit=200");
    loop {
        let answer = json(&http, &page, &token).await;
        all.extend(common::listed(&answer));
        match answer["next"].as_str() {
            Some(cursor) => {
                page = format!("{base}/api/brands/acme/comments?limit=200&cursor={cursor}")
            }
            None => break,
        }
    }
    for c in all {
        let id = c["key"]["external_id"].as_str().unwrap().to_owned();
        *listed.entry(id).or_default() += 1;
    }
    assert!(listed.values().all(|&n| n == 1), "{listed:?}");
    let listed: BTreeSet<String> = listed.into_keys().collect();
    assert!(listed.is_superset(&accepted));
    let sent: BTreeSet<String> = ids(1).into_iter().chain(ids(2)).collect();
    assert!(listed.is_subset(&sent));
}
