//! infra/template.yaml's functions deployed on this machine: moto's DynamoDB, SQS and SSM
//! with the table, the queues and the secrets the template creates, the brand `acme` with
//! its sample content and a manager, a chat webhook that records what it gets, and every
//! function running under the Runtime API emulator with the template's environment.
//! Shared by the emulator test and the cost bench.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use vigie_core::platforms::meta::signature as sign_meta;
use vigie_core::ports::{BrandContentStore, UserStore};
use vigie_core::review::Role;
use vigie_core::users::{User, UserName};

use crate::fakes::{APP_SECRET, acme};
use crate::lambda::{
    Binaries, Emulator, FUNCTIONS, Opt, http_event, moto_environment, template_environment,
};
use crate::moto::{Moto, queue_with_dlq, table, unique};

/// The API's host name the review function answers for.
pub const HOST: &str = "abc123.execute-api.eu-west-3.amazonaws.com";
pub const ISSUER: &str = "https://issuer.vigie.test";
pub const AUDIENCE: &str = "vigie-review";
/// The manager of `acme` the review function knows (a responder).
pub const MANAGER: &str = "camille@example.fr";
/// Acme's Facebook page.
pub const PAGE: &str = "1001";

pub struct Deployment {
    pub emulator: Emulator,
    pub store: vigie_aws::DynamoStore,
    pub classify_q: vigie_aws::SqsQueue,
    pub escalation_q: vigie_aws::SqsQueue,
    pub draft_q: vigie_aws::SqsQueue,
    /// What the brand's chat webhook received.
    pub posted: Arc<Mutex<Vec<Value>>>,
    pub binaries: Binaries,
    refs: BTreeMap<&'static str, String>,
    opt: Opt,
}

fn key_file(name: &str) -> Vec<u8> {
    std::fs::read(
        crate::workspace_root()
            .join("functions/review/tests/keys")
            .join(name),
    )
    .unwrap()
}

/// An OpenID Connect token of the issuer the review function trusts, for `email`.
pub fn token(email: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600,
        "email": email, "email_verified": true,
    });
    let key = EncodingKey::from_rsa_pem(&key_file("rsa.pem")).unwrap();
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// Meta's POST of `body` to the webhook route, signed with `secret`.
pub fn meta_delivery(body: &str, secret: &[u8]) -> Value {
    let signature = sign_meta(secret, body.as_bytes());
    http_event(
        "POST",
        "/webhooks/facebook",
        &[
            ("host", HOST),
            ("content-type", "application/json"),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
}

/// A Meta feed delivery of one new comment `id` by `author_id` on acme's post `post`
/// (`1001_<n>`).
pub fn meta_comment(post: &str, id: &str, author_id: &str, text: &str, created: u64) -> String {
    json!({"object": "page", "entry": [{"id": PAGE, "time": created, "changes": [
        {"field": "feed", "value": {
            "from": {"id": author_id, "name": format!("Client {author_id}")},
            "message": text, "post_id": post, "comment_id": id,
            "created_time": created, "item": "comment", "parent_id": post, "verb": "add"}}
    ]}]})
    .to_string()
}

impl Deployment {
    /// Everything but the functions; `None` (with a note) without cargo lambda.
    pub async fn new(moto: &Moto, model_dir: &Path) -> Option<Self> {
        let emulator = Emulator::start()?;
        let binaries = Binaries::from_env();
        let conf = moto.sdk_config().await;
        let store = table(&conf).await;
        let (classify_q, _) = queue_with_dlq(&conf, 3).await;
        let (escalation_q, _) = queue_with_dlq(&conf, 3).await;
        let (draft_q, _) = queue_with_dlq(&conf, 3).await;
        let (hook_url, posted) = crate::chat_receiver().await;
        let graph = crate::graph_stand_in(PAGE).await;

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
            ("meta/system-user-token", "EAAsystemusertoken".to_owned()),
            ("acme/notify-url", hook_url),
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
             verify_token = {{ ssm = \"{prefix}meta/verify-token\" }}\n\
             [meta.pull]\naccess_token = {{ ssm = \"{prefix}meta/system-user-token\" }}\n\
             api_url = \"{graph}\"\n\n\
             [[brands]]\nid = \"acme\"\nname = \"Acme\"\nfacebook_page_ids = [\"{PAGE}\"]\n\n\
             [brands.notify]\nurl = {{ ssm = \"{prefix}acme/notify-url\" }}\nformat = \"slack\"\n"
        );
        let opt = Opt::new(binaries.packaged(), model_dir, &config);

        // the brand's content and a manager, as `vigie brand import` and `vigie user add` store them
        let model =
            vigie_model::SentimentModel::load(&vigie_model::ModelOptions::new(model_dir)).unwrap();
        store
            .put_content(&crate::sample_content(&acme(), &model), None)
            .await
            .unwrap();
        drop(model);
        let user = User {
            name: UserName::parse(MANAGER).unwrap(),
            password_hash: String::new(),
            roles: [(acme(), Role::Responder)].into_iter().collect(),
            revision: 1,
            session_epoch: 0,
            tokens: Vec::new(),
        };
        store.put_user(&user, None).await.unwrap();

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
        Some(Deployment {
            emulator,
            store,
            classify_q,
            escalation_q,
            draft_q,
            posted,
            binaries,
            refs,
            opt,
        })
    }

    /// Starts every function of the template in the deployment's emulator, its AWS
    /// clients pointed at `endpoint` (moto, or something in front of it).
    pub fn start_functions(&mut self, endpoint: &str) {
        let Deployment {
            emulator,
            refs,
            opt,
            binaries,
            ..
        } = self;
        run_functions(emulator, refs, opt, binaries, |_| endpoint.to_owned());
    }

    /// Stops `binary` and starts it again, cold (a new execution environment), its AWS
    /// clients pointed at `endpoint`; `wrap` runs it under another command (e.g.
    /// `taskset -c 0`).
    pub fn restart_function(&mut self, binary: &str, endpoint: &str, wrap: &[&str]) {
        self.emulator.stop(binary);
        let mut env = template_environment(binary, &self.refs, &self.opt);
        env.extend(moto_environment(endpoint));
        self.emulator
            .run(binary, &self.binaries.path(binary), &env, wrap);
    }

    /// Starts every function of the template with a metering proxy of its own in front of
    /// `upstream`: the AWS calls of each, by binary.
    pub async fn start_metered_functions(
        &mut self,
        upstream: &str,
    ) -> BTreeMap<&'static str, crate::metering::Meter> {
        let mut meters = BTreeMap::new();
        for binary in FUNCTIONS {
            meters.insert(binary, crate::metering::Meter::start(upstream).await);
        }
        let Deployment {
            emulator,
            refs,
            opt,
            binaries,
            ..
        } = self;
        run_functions(emulator, refs, opt, binaries, |binary| {
            meters[binary].endpoint.clone()
        });
        meters
    }
}

fn run_functions(
    emulator: &mut Emulator,
    refs: &BTreeMap<&str, String>,
    opt: &Opt,
    binaries: &Binaries,
    endpoint: impl Fn(&str) -> String,
) {
    for binary in FUNCTIONS {
        let mut env = template_environment(binary, refs, opt);
        env.extend(moto_environment(&endpoint(binary)));
        emulator.run(binary, &binaries.path(binary), &env, &[]);
    }
}
