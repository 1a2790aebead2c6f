//! Every function of infra/template.yaml as its own process under the Lambda Runtime API
//! emulator (`cargo lambda watch --only-lambda-apis`, invoked with `cargo lambda
//! invoke`), configured by the template's environment, on moto's DynamoDB, SQS and SSM:
//! a signed Meta delivery through the webhook function, its comments classified by the
//! classify function with the real model, the escalation posted by notify, drafts
//! stored by draft, the inbox read through the review function with an OpenID Connect
//! token, the sweep on its schedule, a poison message reported for retry.
//!
//! By default the binaries cargo built for this machine run; `VIGIE_LAMBDA_DIR=target/lambda`
//! (what `scripts/package` does) runs the packaged `bootstrap`s with the layers it filled.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use vigie_core::comment::{CommentKey, CommentState, Platform};
use vigie_core::ports::{BrandContentStore, CommentRead, DraftStore, OutgoingMessage, QueueSend};
use vigie_core::signature::sign_meta;
use vigie_model::{ModelOptions, SentimentModel};
use vigie_tests::fakes::{APP_SECRET, acme};
use vigie_tests::lambda::{
    Binaries, Emulator, FUNCTIONS, Opt, failures, http_event, moto_environment, queue_arn,
    schedule_event, sqs_event, template_environment,
};
use vigie_tests::moto::{complete, moto, queue_with_dlq, receive_all, table, unique};

const HOST: &str = "abc123.execute-api.eu-west-3.amazonaws.com";
const ISSUER: &str = "https://issuer.vigie.test";
const AUDIENCE: &str = "vigie-review";

const FEED: &str = r#"{"object":"page","entry":[{"id":"1001","time":1764086400,"changes":[
 {"field":"feed","value":{"from":{"id":"77","name":"Nadia"},"message":"Le radiateur acheté chez vous a pris feu dans la chambre de ma fille. J'appelle mon avocat, c'est inadmissible.","post_id":"1001_5","comment_id":"5_1","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}},
 {"field":"feed","value":{"from":{"id":"78","name":"Paul"},"message":"Merci pour l'accueil, toujours un plaisir de venir chez vous !","post_id":"1001_5","comment_id":"5_2","created_time":1764086399,"item":"comment","parent_id":"1001_5","verb":"add"}}
]}]}"#;

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(
        vigie_tests::workspace_root()
            .join("functions/review/tests/keys")
            .join(name),
    )
    .unwrap()
}

fn token(email: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
        "email": email, "email_verified": true,
    });
    let key = EncodingKey::from_rsa_pem(&key_file("rsa.pem")).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

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
    let Some(mut emulator) = Emulator::start() else {
        return;
    };
    let binaries = Binaries::from_env();
    let conf = moto.sdk_config().await;
    let store = table(&conf).await;
    let (classify_q, _classify_dlq) = queue_with_dlq(&conf, 3).await;
    let (escalation_q, _) = queue_with_dlq(&conf, 3).await;
    let (draft_q, _) = queue_with_dlq(&conf, 3).await;
    let (hook_url, posted) = vigie_tests::chat_receiver().await;

    // secrets in SSM, by the references of the brand configuration
    let prefix = format!("/{}/", unique("vigie"));
    let ssm = aws_sdk_ssm::Client::new(&conf);
    let session_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    for (name, value) in [
        (
            "meta/app-secret",
            String::from_utf8(APP_SECRET.to_vec()).unwrap(),
        ),
        ("meta/verify-token", "verify-me".to_owned()),
        ("acme/notify-url", hook_url.clone()),
        ("review/session-key", session_key),
    ] {
        ssm.put_parameter()
            .name(format!("{prefix}{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap();
    }
    let config = format!(
        "[meta]\napp_secret = {{ ssm = \"{prefix}meta/app-secret\" }}\n\
         verify_token = {{ ssm = \"{prefix}meta/verify-token\" }}\n\n\
         [[brands]]\nid = \"acme\"\nname = \"Acme\"\nfacebook_page_ids = [\"1001\"]\n\n\
         [brands.notify]\nurl = {{ ssm = \"{prefix}acme/notify-url\" }}\nformat = \"slack\"\n"
    );
    let opt = Opt::new(binaries.packaged(), &model_dir, &config);

    // the brand's content and a manager, as `vigie brand import` and `vigie user add` store them
    let model = SentimentModel::load(&ModelOptions::new(&model_dir)).unwrap();
    store
        .put_content(&vigie_tests::sample_content(&acme(), &model), None)
        .await
        .unwrap();
    drop(model);
    {
        use vigie_core::ports::UserStore;
        use vigie_core::review::Role;
        use vigie_core::users::{User, UserName};
        let user = User {
            name: UserName::parse("camille@example.fr").unwrap(),
            password_hash: String::new(),
            roles: [(acme(), Role::Responder)].into_iter().collect(),
            revision: 1,
            session_epoch: 0,
            tokens: Vec::new(),
        };
        store.put_user(&user, None).await.unwrap();
    }

    // each function with the template's environment
    let refs: BTreeMap<&str, String> = [
        ("Table", store.table_name().to_owned()),
        ("ClassifyQueue", classify_q.url().to_owned()),
        ("EscalationQueue", escalation_q.url().to_owned()),
        ("DraftQueue", draft_q.url().to_owned()),
        ("ReviewHosts", HOST.to_owned()),
        ("SessionKeyParameter", format!("{prefix}review/session-key")),
        ("OidcIssuer", ISSUER.to_owned()),
        ("OidcAudience", AUDIENCE.to_owned()),
        (
            "OidcJwks",
            String::from_utf8(key_file("jwks.json")).unwrap(),
        ),
    ]
    .into_iter()
    .collect();
    for binary in FUNCTIONS {
        let mut env = template_environment(binary, &refs, &opt);
        env.extend(moto_environment(&moto.endpoint));
        emulator.run(binary, &binaries.path(binary), &env, &[]);
    }

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
    let delivery = |secret: &[u8]| {
        let signature = sign_meta(secret, FEED.as_bytes());
        http_event(
            "POST",
            "/webhooks/facebook",
            &[
                ("host", HOST),
                ("content-type", "application/json"),
                ("x-hub-signature-256", &signature),
            ],
            FEED,
        )
    };
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
    let batch = receive_all(&classify_q).await;
    assert_eq!(batch.len(), 2);
    let response = emulator.invoke("vigie-classify", &sqs_event(&queue_arn("classify"), &batch));
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(&classify_q, &batch, &[]).await;
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
    let events = receive_all(&escalation_q).await;
    assert_eq!(events.len(), 1);
    let response = emulator.invoke(
        "vigie-notify",
        &sqs_event(&queue_arn("escalation"), &events),
    );
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(&escalation_q, &events, &[]).await;
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
    let requests = receive_all(&draft_q).await;
    assert_eq!(requests.len(), 2, "one per triaged comment");
    let response = emulator.invoke("vigie-draft", &sqs_event(&queue_arn("draft"), &requests));
    assert_eq!(failures(&response), Vec::<String>::new(), "{response}");
    complete(&draft_q, &requests, &[]).await;
    let thanks = store.drafts(&key("5_2")).await.unwrap().unwrap();
    assert!(!thanks.suggestions.is_empty(), "{thanks:?}");
    for s in &thanks.suggestions {
        assert!(s.checks.iter().all(|c| c.passed), "{s:?}");
    }

    // 5. review: the inbox with a manager's token; without one, or for another Host, refused
    let bearer = format!("Bearer {}", token("camille@example.fr"));
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
    let batch = receive_all(&classify_q).await;
    let response = emulator.invoke("vigie-classify", &sqs_event(&queue_arn("classify"), &batch));
    assert_eq!(
        failures(&response),
        [batch[0].message_id.clone()],
        "{response}"
    );

    // every line every function wrote is JSON
    for f in FUNCTIONS {
        emulator.log_lines(f);
    }
}
