//! Every function of infra/template.yaml as its own process under the Lambda Runtime API
//! emulator (`cargo lambda watch --only-lambda-apis`, invoked with `cargo lambda
//! invoke`), configured by the template's environment, on moto's DynamoDB, SQS and SSM:
//! a signed Meta delivery through the webhook function, its comments classified by the
//! classify function with the real model, the escalation posted by notify, drafts
//! stored by draft, the inbox read through the review function with an OpenID Connect
//! token, the sweep on its schedule, a poison message reported for retry, gap repair by the
//! poll function against a Graph API stand-in on loopback. Each function
//! reaches moto through a metering proxy of its own, so the test ends by checking every
//! AWS call each one made against the policy the template gives it.
//!
//! By default the binaries cargo built for this machine run; `VIGIE_LAMBDA_DIR=target/lambda`
//! (what `scripts/package` does) runs the packaged `bootstrap`s with the layers it filled.

use serde_json::Value;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::ports::{CommentRead, DraftStore, OutgoingMessage, QueueSend};
use vigie_tests::deployment::{Deployment, HOST, MANAGER, meta_delivery, token};
use vigie_tests::fakes::{APP_SECRET, acme};
use vigie_tests::lambda::{
    FUNCTIONS, failures, http_event, policy_allows, queue_arn, schedule_event, sqs_event,
};
use vigie_tests::moto::{complete, moto, receive_all};

const FEED: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
 {"field":"feed","value":{"from":{"id":"77","name":"Nadia"},"message":"Le radiateur acheté chez vous a pris feu dans la chambre de ma fille. J'appelle mon avocat, c'est inadmissible.","post_id":"1001_5","comment_id":"5_1","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"78","name":"Paul"},"message":"Merci pour l'accueil, toujours un plaisir de venir chez vous !","post_id":"1001_5","comment_id":"5_2","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}}
]}]}"#;

/// Log lines of `function` that name the comment `external_id` in their span.
fn lines_about<'a>(lines: &'a [Value], external_id: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| {
            l["spans"].as_array().is_some_and(|spans| {
                spans
                    .iter()
                    .any(|s| s["key"].as_str().is_some_and(|k| k.ends_with(external_id)))
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_runs_under_the_runtime_api_emulator_from_a_signed_delivery_to_a_stored_draft()
 {
    let Some(moto) = moto() else { return };
    let Some(model_dir) = vigie_tests::full_model_dir() else {
        return;
    };
    let Some(mut deployment) = Deployment::new(moto, &model_dir).await else {
        return;
    };
    let meters = deployment.start_metered_functions(&moto.endpoint).await;
    let Deployment {
        emulator,
        store,
        classify_q,
        escalation_q,
        draft_q,
        posted,
        ..
    } = &mut deployment;

    // 1. webhook: Meta's handshake, then a signed delivery
    let handshake = emulator.invoke(
        "vigie-webhook",
        &http_event(
            "GET",
            "/webhooks/facebook?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
            &[("host", HOST)],
            "",
        ),
    );
    assert_eq!(handshake["statusCode"], 200, "{handshake}");
    assert_eq!(handshake["body"], "1158201444");
    let delivery = |secret: &[u8]| meta_delivery(FEED, secret);
    let forged = emulator.invoke("vigie-webhook", &delivery(b"not the secret"));
    assert_eq!(forged["statusCode"], 401, "{forged}");
    let delivered = emulator.invoke("vigie-webhook", &delivery(APP_SECRET));
    assert_eq!(delivered["statusCode"], 200, "{delivered}");
    let key = |id: &str| CommentKey::new(acme(), Platform::Facebook, id).unwrap();
    assert_eq!(
        store.get(&key("5_1")).await.unwrap().unwrap().state,
        CommentState::Queued
    );

    // 2. classify: what the queue holds, as Lambda's SQS source hands it over
    let batch = receive_all(classify_q).await;
    assert_eq!(batch.len(), 2);
    let response = emulator.invoke("vigie-classify", &sqs_event(&queue_arn("classify"), &batch));
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(classify_q, &batch, &[]).await;
    let fire = store.get(&key("5_1")).await.unwrap().unwrap();
    let triage = fire.triage.as_ref().unwrap();
    assert_eq!(
        triage.sentiment.as_ref().unwrap().label,
        vigie_core::Sentiment::Negative
    );
    assert!(triage.urgency.escalate, "{:?}", triage.urgency);
    let classify_log = emulator.log_lines("vigie-classify");
    assert!(
        classify_log
            .iter()
            .any(|l| l["fields"]["message"] == "model loaded"),
        "{classify_log:?}"
    );
    assert!(
        !lines_about(&classify_log, "5_1").is_empty(),
        "no log line names the escalated comment: {classify_log:?}"
    );
    for line in &classify_log {
        let Some(span) = line["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "message"))
        else {
            continue;
        };
        assert_eq!(span["brand"], "acme", "{line}");
        assert!(
            span["message_id"].is_string() && span["key"].is_string(),
            "{line}"
        );
    }

    // 3. notify: the escalation to the brand's chat
    let events = receive_all(escalation_q).await;
    assert_eq!(events.len(), 1);
    let response = emulator.invoke(
        "vigie-notify",
        &sqs_event(&queue_arn("escalation"), &events),
    );
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(escalation_q, &events, &[]).await;
    let got = posted.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .contains("acme on facebook"),
        "{}",
        got[0]
    );

    // 4. draft: suggestions stored with the comment, checked
    let requests = receive_all(draft_q).await;
    assert_eq!(requests.len(), 2, "one per triaged comment");
    let response = emulator.invoke("vigie-draft", &sqs_event(&queue_arn("draft"), &requests));
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(draft_q, &requests, &[]).await;
    let thanks = store.drafts(&key("5_2")).await.unwrap().unwrap();
    assert!(!thanks.suggestions.is_empty(), "{thanks:?}");
    for s in &thanks.suggestions {
        assert!(s.checks.iter().all(|c| c.passed), "{s:?}");
    }

    // 5. review: the inbox with a manager's token; without one, or for another Host, refused
    let bearer = format!("Bearer {}", token(MANAGER));
    let inbox = emulator.invoke(
        "vigie-review",
        &http_event(
            "GET",
            "/api/brands/acme/comments",
            &[("host", HOST), ("authorization", &bearer)],
            "",
        ),
    );
    assert_eq!(inbox["statusCode"], 200, "{inbox}");
    let body: Value = serde_json::from_str(inbox["body"].as_str().unwrap()).unwrap();
    let listed: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["comment"]["key"]["external_id"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(listed, ["5_1", "5_2"], "{body}");
    let anonymous = emulator.invoke(
        "vigie-review",
        &http_event("GET", "/api/brands/acme/comments", &[("host", HOST)], ""),
    );
    assert_eq!(anonymous["statusCode"], 401, "{anonymous}");
    let rebound = emulator.invoke(
        "vigie-review",
        &http_event(
            "GET",
            "/api/brands/acme/comments",
            &[("host", "attacker.example"), ("authorization", &bearer)],
            "",
        ),
    );
    assert_eq!(rebound["statusCode"], 421, "{rebound}");

    // 6. the sweep on its schedule: nothing left behind to queue
    let swept = emulator.invoke("vigie-sweep", &schedule_event());
    assert_eq!(swept["requeued"], 0, "{swept}");

    // 7. a poison message: reported for retry, the rest of its batch acknowledged
    classify_q
        .send(&[OutgoingMessage {
            id: "poison".into(),
            body: "not json".into(),
            attributes: vec![],
        }])
        .await
        .unwrap();
    let batch = receive_all(classify_q).await;
    let response = emulator.invoke("vigie-classify", &sqs_event(&queue_arn("classify"), &batch));
    assert_eq!(
        failures(&response),
        [batch[0].message_id.clone()],
        "{response}"
    );

    // 8. the poll on its schedule: gap repair reads the page's recent comments; 5_1 came by
    // webhook, 5_7 did not (the first read is the baseline: nothing counts as missed yet)
    let polled = emulator.invoke("vigie-poll", &schedule_event());
    assert_eq!(polled["feeds"], 1, "{polled}");
    assert_eq!(polled["failed"], 0, "{polled}");
    assert_eq!(polled["stored"], 1, "{polled}");
    assert_eq!(
        polled["report"]["feeds"][0]["intake"]["duplicates"], 1,
        "{polled}"
    );
    assert_eq!(
        store.get(&key("5_7")).await.unwrap().unwrap().state,
        CommentState::Queued
    );

    // every line every function wrote is JSON
    for f in FUNCTIONS {
        emulator.log_lines(f);
    }

    // 9. least privilege as run: each AWS call of each function is one its policy allows
    let template = vigie_tests::lambda::template();
    for (binary, meter) in &meters {
        let needed: std::collections::BTreeSet<_> = meter
            .take()
            .into_iter()
            .flat_map(|c| c.permissions)
            .collect();
        if *binary != "vigie-notify" {
            assert!(!needed.is_empty(), "{binary} made no AWS call");
        }
        for p in &needed {
            assert!(
                policy_allows(&template, binary, p),
                "{binary} needs {p:?}, which its policy in infra/template.yaml does not allow"
            );
        }
    }
}
