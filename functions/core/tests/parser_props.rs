//! What arrives from outside never panics a parser, and what a parser accepts is a whole
//! event: every platform module's webhook parser and page reader (the poll function's),
//! `Timestamp::parse_rfc3339` and `Brands::parse`, on random bytes and on near-valid input
//! (the right shape with wrong, missing or extreme values, real payloads mutated).
//!
//! `PROPTEST_CASES=10000 cargo nextest run -p vigie-core --test parser_props` runs longer.

use std::path::Path;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};
use vigie_core::platforms::{self, EventKind, Parsed};
use vigie_core::poll::{Feed, HttpResponse, PULLS, Pull, PullKeys};
use vigie_core::{BrandId, Platform, Timestamp};

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

// ---- JSON building blocks ----

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value a field expects most of the time, else absent or of any other shape.
fn field<S>(valid: S) -> impl Strategy<Value = Option<Value>>
where
    S: Strategy<Value = Value> + 'static,
{
    prop_oneof![
        16 => valid.prop_map(Some),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ]
}

/// A field the whole delivery's shape hangs on: wrong more rarely, or no delivery would
/// get past it.
fn structural<S>(valid: S) -> impl Strategy<Value = Option<Value>>
where
    S: Strategy<Value = Value> + 'static,
{
    prop_oneof![
        40 => valid.prop_map(Some),
        1 => Just(None),
        1 => any_json().prop_map(Some),
    ]
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect::<Map<_, _>>(),
    )
}

/// Ids as platforms send them (strings, numbers, some past 2^64) and as they should not.
fn id() -> impl Strategy<Value = Value> {
    prop_oneof![
        10 => "[0-9]{1,20}(_[0-9]{1,8})?".prop_map(Value::String),
        4 => any::<u64>().prop_map(Value::from),
        1 => Just(json!(123456789012345678901234567890.0)),
        1 => prop_oneof![Just(""), Just("  "), Just("\t\n")].prop_map(|s| json!(s)),
        1 => any::<i64>().prop_map(Value::from),
    ]
}

/// Comment texts: ordinary, blank, exotic, long.
fn comment_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => "\\PC{1,80}".prop_map(Value::String),
        1 => prop_oneof![Just(""), Just(" "), Just("\u{a0}\n\t")].prop_map(|s| json!(s)),
        1 => "[\u{0}-\u{1f}\u{200b}\u{feff}]{1,8}".prop_map(Value::String),
        1 => (1usize..3).prop_map(|k| json!("é".repeat(k * 20_000))),
    ]
}

/// Times as Unix seconds (numbers or strings) or RFC 3339, in and out of range.
fn time_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0i64..4_102_444_800).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(|s| json!(s.to_string())),
        2 => rfc3339_like().prop_map(Value::String),
        1 => any::<f64>().prop_map(Value::from),
    ]
}

/// Strings shaped like RFC 3339 with every component possibly out of range.
fn rfc3339_like() -> impl Strategy<Value = String> {
    (
        // The ends of RFC 3339's years, where an offset can carry an instant past them.
        prop_oneof![4 => 0u32..=9999, 1 => Just(0), 1 => Just(9999), 1 => 10000u32..=99999],
        0u32..=13,
        0u32..=32,
        prop::sample::select(vec!["T", "t", " ", "_"]),
        0u32..=25,
        0u32..=61,
        0u32..=61,
        prop_oneof![Just(String::new()), "\\.[0-9]{1,12}"],
        prop_oneof![
            Just("Z".to_owned()),
            Just("z".to_owned()),
            Just(String::new()),
            (prop::sample::select(vec!['+', '-']), 0u32..=25, 0u32..=61)
                .prop_map(|(s, h, m)| format!("{s}{h:02}:{m:02}")),
        ],
    )
        .prop_map(|(y, mo, d, sep, h, mi, s, frac, tz)| {
            format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{tz}")
        })
}

fn choice(valid: &[&'static str]) -> impl Strategy<Value = Value> + use<> {
    prop_oneof![
        10 => prop::sample::select(valid.to_vec()).prop_map(|s| json!(s)),
        1 => "[a-z._]{0,10}".prop_map(Value::String),
    ]
}

// ---- near-valid deliveries ----

fn facebook_value() -> impl Strategy<Value = Value> {
    (
        field(choice(&[
            "comment", "comment", "comment", "reaction", "status",
        ])),
        field(choice(&["add", "add", "edited", "remove", "hide"])),
        field(id()),
        field(id()),
        field(id()),
        field(
            (field(id()), field("\\PC{0,20}".prop_map(Value::String)))
                .prop_map(|(id, name)| object(vec![("id", id), ("name", name)])),
        ),
        field(comment_text()),
        field(time_value()),
        field(
            field("https://[a-z./0-9]{1,30}".prop_map(Value::String))
                .prop_map(|url| object(vec![("permalink_url", url)])),
        ),
    )
        .prop_map(
            |(item, verb, comment_id, post_id, parent_id, from, message, created, post)| {
                object(vec![
                    ("item", item),
                    ("verb", verb),
                    ("comment_id", comment_id),
                    ("post_id", post_id),
                    ("parent_id", parent_id),
                    ("from", from),
                    ("message", message),
                    ("created_time", created),
                    ("post", post),
                ])
            },
        )
}

fn instagram_value() -> impl Strategy<Value = Value> {
    (
        field(id()),
        field(comment_text()),
        field(
            (field(id()), field("[a-z._]{0,20}".prop_map(Value::String)))
                .prop_map(|(id, name)| object(vec![("id", id), ("username", name)])),
        ),
        field(field(id()).prop_map(|id| object(vec![("id", id)]))),
        field(id()),
    )
        .prop_map(|(id, text, from, media, parent)| {
            object(vec![
                ("id", id),
                ("text", text),
                ("from", from),
                ("media", media),
                ("parent_id", parent),
            ])
        })
}

/// A Meta delivery for `platform`, most of its parts right and the rest wrong.
fn meta_delivery(platform: Platform) -> BoxedStrategy<Value> {
    let (object_name, fields, value): (_, &'static [&'static str], BoxedStrategy<Value>) =
        match platform {
            Platform::Facebook => (
                "page",
                &["feed", "feed", "mention"],
                facebook_value().boxed(),
            ),
            _ => (
                "instagram",
                &["comments", "live_comments", "mentions"],
                instagram_value().boxed(),
            ),
        };
    let change = (structural(choice(fields)), structural(value))
        .prop_map(|(f, v)| object(vec![("field", f), ("value", v)]));
    let entry = (
        structural(id()),
        field(time_value()),
        structural(prop::collection::vec(change, 0..4).prop_map(Value::Array)),
    )
        .prop_map(|(id, time, changes)| {
            object(vec![("id", id), ("time", time), ("changes", changes)])
        });
    (
        structural(prop_oneof![
            8 => Just(json!(object_name)),
            1 => choice(&["page", "instagram", "user"]),
        ]),
        structural(prop::collection::vec(entry, 0..3).prop_map(Value::Array)),
    )
        .prop_map(|(object_name, entry)| object(vec![("object", object_name), ("entry", entry)]))
        .boxed()
}

fn generic_delivery() -> impl Strategy<Value = Value> {
    let author = (
        field(prop_oneof![
            "[a-z0-9-]{1,12}".prop_map(Value::String),
            Just(json!(""))
        ]),
        field("\\PC{0,20}".prop_map(Value::String)),
        field(any::<u64>().prop_map(Value::from)),
        field(any::<bool>().prop_map(Value::Bool)),
    )
        .prop_map(|(id, name, followers, is_brand)| {
            object(vec![
                ("id", id),
                ("name", name),
                ("followers", followers),
                ("is_brand", is_brand),
            ])
        });
    let key = || {
        prop_oneof![
            4 => "[a-z0-9-]{1,16}".prop_map(Value::String),
            1 => prop_oneof![Just(""), Just("  ")].prop_map(|s| json!(s)),
        ]
    };
    let event = (
        field(choice(&[
            "comment.created",
            "comment.edited",
            "comment.deleted",
            "comment.liked",
        ])),
        field(key()),
        field(key()),
        field(key()),
        field(author),
        field(comment_text()),
        field(rfc3339_like().prop_map(Value::String)),
        field("https://[a-z./0-9]{1,30}".prop_map(Value::String)),
    )
        .prop_map(
            |(kind, id, thread, parent, author, text, created, permalink)| {
                object(vec![
                    ("type", kind),
                    ("id", id),
                    ("thread_id", thread),
                    ("parent_id", parent),
                    ("author", author),
                    ("text", text),
                    ("created_at", created),
                    ("permalink", permalink),
                ])
            },
        );
    (
        structural(prop_oneof![
            8 => "[a-z]{1,12}".prop_map(Value::String),
            1 => prop_oneof![Just(" ".to_owned()), "[a-z]{65,70}"].prop_map(Value::String),
        ]),
        structural(prop::collection::vec(event, 0..5).prop_map(Value::Array)),
    )
        .prop_map(|(source, events)| object(vec![("source", source), ("events", events)]))
}

fn bytes_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialisable")
}

/// Random bytes, and JSON text cut short or with a byte changed (the fuzzer's moves).
fn damaged(json: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = json.len().max(1);
    prop_oneof![
        Just(json.clone()),
        (0..len).prop_map({
            let json = json.clone();
            move |cut| json[..cut.min(json.len())].to_vec()
        }),
        (0..len, any::<u8>()).prop_map(move |(at, b)| {
            let mut out = json.clone();
            if let Some(x) = out.get_mut(at) {
                *x = b;
            }
            out
        }),
    ]
}

// ---- what every accepted event must be ----

fn assert_whole_events(platform: Platform, parsed: &Parsed) -> Result<(), TestCaseError> {
    for e in &parsed.events {
        prop_assert_eq!(e.platform, platform);
        prop_assert!(!e.external_id.trim().is_empty(), "no id: {e:?}");
        prop_assert!(!e.account_id.trim().is_empty(), "no account: {e:?}");
        prop_assert!(!e.thread_id.trim().is_empty(), "no thread: {e:?}");
        if e.kind != EventKind::Deleted {
            // A comment without text (a photo, a sticker) is kept with its attachment.
            prop_assert!(
                e.text.as_deref().is_some_and(|t| !t.trim().is_empty()) || e.attachment.is_some(),
                "a comment with neither text nor attachment: {e:?}"
            );
        }
        if let Some(at) = e.created_at {
            prop_assert_eq!(
                Timestamp::parse_rfc3339(&at.rfc3339()),
                Some(at),
                "created_at {:?} cannot be shown",
                at
            );
        }
    }
    for i in &parsed.ignored {
        prop_assert_eq!(i.platform, platform);
        prop_assert!(!i.reason.is_empty());
    }
    Ok(())
}

fn check_meta(platform: Platform, body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(parsed) = platforms::meta::parse(platform, body) {
        assert_whole_events(platform, &parsed)?;
    }
    Ok(())
}

fn check_generic(body: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(parsed) = platforms::generic::parse(body) {
        assert_whole_events(Platform::Generic, &parsed)?;
    }
    Ok(())
}

/// Every platform module's parser on the same bytes.
fn check_every_platform(body: &[u8]) -> Result<(), TestCaseError> {
    for platform in Platform::ALL {
        if let Ok(parsed) = platforms::source(platform).parse(platform, body) {
            assert_whole_events(platform, &parsed)?;
        }
    }
    Ok(())
}

// ---- real payloads, mutated ----

/// The fixtures under tests/fixtures/webhooks, as (platform, JSON); TikTok's `content`
/// string is opened up so that mutations reach inside it.
fn fixtures() -> &'static [(Platform, Value)] {
    static FIXTURES: std::sync::OnceLock<Vec<(Platform, Value)>> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/webhooks");
        let mut out = Vec::new();
        for platform in Platform::ALL {
            let mut stack = vec![root.join(platform.as_str())];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    let name = path.to_string_lossy().into_owned();
                    if path.is_dir() {
                        stack.push(path);
                    } else if name.ends_with(".json") && !name.ends_with(".headers.json") {
                        let mut v: Value =
                            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                        open_content(&mut v);
                        out.push((platform, v));
                    }
                }
            }
        }
        out.sort_by_key(|(p, v)| (*p, v.to_string()));
        assert!(out.len() >= 13, "fixtures missing: {}", out.len());
        out
    })
}

fn open_content(v: &mut Value) {
    if let Some(Value::String(text)) = v.get("content")
        && let Ok(inner) = serde_json::from_str::<Value>(text)
    {
        v["content"] = json!({ "__json_string__": inner });
    }
}

fn close_content(v: &mut Value) {
    if let Some(inner) = v.get("content").and_then(|c| c.get("__json_string__")) {
        v["content"] = Value::String(inner.to_string());
    }
}

/// Every node's path in a JSON tree.
fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(Step::Index(i));
                paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// Replaces the node at `path` with `with`, or removes it from its object or array.
fn mutate(v: &mut Value, path: &[Step], with: Option<Value>) {
    let Some((last, parent_path)) = path.split_last() else {
        if let Some(w) = with {
            *v = w;
        }
        return;
    };
    let mut parent = v;
    for step in parent_path {
        parent = match step {
            Step::Key(k) => &mut parent[k.as_str()],
            Step::Index(i) => &mut parent[*i],
        };
    }
    match (last, with, parent) {
        (Step::Key(k), Some(w), p) => p[k.as_str()] = w,
        (Step::Index(i), Some(w), p) => p[*i] = w,
        (Step::Key(k), None, Value::Object(m)) => {
            m.remove(k);
        }
        (Step::Index(i), None, Value::Array(a)) => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// A real payload with one node replaced by any JSON or removed, then byte damage.
fn mutated_fixture() -> impl Strategy<Value = (Platform, Vec<u8>)> {
    (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::option::weighted(0.7, any_json()),
    )
        .prop_flat_map(|(which, node, with)| {
            let (platform, original) = &fixtures()[which.index(fixtures().len())];
            let mut v = original.clone();
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            mutate(&mut v, &all[node.index(all.len())], with);
            close_content(&mut v);
            let platform = *platform;
            damaged(bytes_of(&v)).prop_map(move |b| (platform, b))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parsers_survive_random_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        check_every_platform(&body)?;
    }

    #[test]
    fn parsers_survive_any_json(v in any_json()) {
        check_every_platform(&bytes_of(&v))?;
    }

    /// Real payloads of every platform with a field changed, dropped or cut short: never a
    /// panic, never a comment without platform, id or text, whichever parser reads them.
    #[test]
    fn mutated_real_payloads_give_only_whole_comments((_platform, body) in mutated_fixture()) {
        check_every_platform(&body)?;
    }

    #[test]
    fn facebook_accepts_only_whole_comments(
        body in meta_delivery(Platform::Facebook).prop_flat_map(|v| damaged(bytes_of(&v)))
    ) {
        check_meta(Platform::Facebook, &body)?;
        // Meta deliveries reach the wrong endpoint too.
        check_meta(Platform::Instagram, &body)?;
    }

    #[test]
    fn instagram_accepts_only_whole_comments(
        body in meta_delivery(Platform::Instagram).prop_flat_map(|v| damaged(bytes_of(&v)))
    ) {
        check_meta(Platform::Instagram, &body)?;
        check_meta(Platform::Facebook, &body)?;
    }

    #[test]
    fn generic_accepts_only_whole_comments(
        body in generic_delivery().prop_flat_map(|v| damaged(bytes_of(&v)))
    ) {
        check_generic(&body)?;
    }

    #[test]
    fn rfc3339_parsing_never_panics_and_what_it_accepts_can_be_shown(
        s in prop_oneof![rfc3339_like(), "\\PC{0,40}", "[0-9T:.Z+-]{0,40}"]
    ) {
        if let Some(t) = Timestamp::parse_rfc3339(&s) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t), "{} -> {}", s, t.rfc3339());
        }
    }

    #[test]
    fn instants_of_years_0_to_9999_round_trip_through_rfc3339(
        ms in Timestamp::MIN.millis()..=Timestamp::MAX.millis()
    ) {
        let t = Timestamp(ms);
        prop_assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
    }

    #[test]
    fn any_instant_shows_as_the_nearest_one_rfc3339_can_write(ms in any::<i64>()) {
        let shown = Timestamp(ms).rfc3339();
        let nearest = Timestamp(ms.clamp(Timestamp::MIN.millis(), Timestamp::MAX.millis()));
        prop_assert_eq!(Timestamp::parse_rfc3339(&shown), Some(nearest), "{} shows as {:?}", ms, shown);
    }
}

/// The near-valid generators are worth their name: they reach accepted comments, ignored
/// changes and refused deliveries alike, so the properties above are not vacuous.
#[test]
fn near_valid_deliveries_reach_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let mut seen = |strategy: BoxedStrategy<Value>, parse: &dyn Fn(&[u8]) -> Option<Parsed>| {
        let (mut events, mut ignored, mut refused) = (0, 0, 0);
        for _ in 0..300 {
            let v = strategy.new_tree(&mut runner).expect("a value").current();
            match parse(&bytes_of(&v)) {
                Some(p) => {
                    events += p.events.len();
                    ignored += p.ignored.len();
                }
                None => refused += 1,
            }
        }
        (events, ignored, refused)
    };
    for platform in [Platform::Facebook, Platform::Instagram] {
        let (events, ignored, refused) = seen(meta_delivery(platform), &|b| {
            platforms::meta::parse(platform, b).ok()
        });
        assert!(
            events >= 20 && ignored >= 20 && refused >= 20,
            "{platform}: {events} events, {ignored} ignored, {refused} refused"
        );
    }
    let (events, ignored, refused) = seen(generic_delivery().boxed(), &|b| {
        platforms::generic::parse(b).ok()
    });
    assert!(
        events >= 20 && ignored >= 20 && refused >= 20,
        "generic: {events} events, {ignored} ignored, {refused} refused"
    );
}

// ---- brand configuration ----

/// A brands file built from near-valid pieces: sections, ids, accounts, weights, tiers.
fn brands_toml() -> impl Strategy<Value = String> {
    let word = || {
        prop_oneof![
            30 => "[a-z][a-z0-9-]{0,8}".boxed(),
            1 => prop_oneof![Just(String::new()), Just("Acme Inc".into()), "\\PC{0,10}", "[a-z]{65}"].boxed(),
        ]
    };
    let account = prop_oneof![
        30 => "[0-9]{1,17}".boxed(),
        1 => prop_oneof![Just(String::new()), Just("abc".into()), Just("١٢٣".into()), "\\PC{0,6}"].boxed(),
    ];
    let accounts = prop::collection::vec(account, 0..3);
    let secret = prop_oneof![
        20 => word().prop_map(|w| format!("{{ env = {w:?} }}")),
        20 => word().prop_map(|w| format!("{{ ssm = \"/vigie/{w}\" }}")),
        1 => Just("{ env = \"\" }".to_owned()),
        1 => Just("\"plain-secret\"".to_owned()),
        1 => Just("{ env = \"A\", ssm = \"B\" }".to_owned()),
    ];
    let weight = (
        prop::sample::select(vec![
            "legal_threat",
            "safety_risk",
            "press",
            "outage",
            "churn",
            "legal",
        ]),
        prop_oneof![30 => 0u32..=100, 1 => 101u32..=300],
    )
        .prop_map(|(name, v)| format!("{name} = {v}"));
    let tier = ("[A-Z][0-9]", 0u32..=110, 0u32..=300).prop_map(|(name, min, within)| {
        format!("{{ name = {name:?}, min_score = {min}, respond_within_minutes = {within} }}")
    });
    let vip = prop_oneof![
        20 => "(facebook|instagram|generic):[a-z0-9.]{1,8}",
        1 => "(tiktok:)?[a-z0-9]{0,8}",
    ];
    let brand = (
        word(),
        word(),
        accounts.clone(),
        accounts,
        prop::option::of(secret.clone()),
        prop::collection::vec(vip, 0..3),
        prop::option::of(prop_oneof![20 => 0u32..=100, 1 => 101u32..=300]),
        prop::collection::vec(weight, 0..3),
        prop::option::weighted(0.2, prop::collection::vec(tier, 0..3)),
        prop::option::of((
            secret.clone(),
            prop::sample::select(vec!["slack", "teams", "slack", "teams", "irc"]),
        )),
    )
        .prop_map(
            |(id, name, fb, ig, generic, vips, escalate, weights, tiers, notify)| {
                let mut s = format!("[[brands]]\nid = {id:?}\nname = {name:?}\n");
                s += &format!("facebook_page_ids = {fb:?}\ninstagram_account_ids = {ig:?}\n");
                if let Some(g) = generic {
                    s += &format!("generic_secret = {g}\n");
                }
                s += &format!("vip_authors = {vips:?}\n[brands.urgency]\n");
                if let Some(e) = escalate {
                    s += &format!("escalate_at = {e}\n");
                }
                s += &format!("weights = {{ {} }}\n", weights.join(", "));
                if let Some(t) = tiers {
                    s += &format!("tiers = [{}]\n", t.join(", "));
                }
                if let Some((url, format)) = notify {
                    s += &format!("[brands.notify]\nurl = {url}\nformat = {format:?}\n");
                }
                s
            },
        );
    (
        prop::option::weighted(0.9, (secret.clone(), secret)),
        prop::collection::vec(brand, 0..3),
    )
        .prop_map(|(meta, brands)| {
            let mut s = String::new();
            if let Some((app, token)) = meta {
                s += &format!("[meta]\napp_secret = {app}\nverify_token = {token}\n\n");
            }
            s += &brands.join("\n");
            s
        })
}

fn check_brands(text: &str) -> Result<(), TestCaseError> {
    let path = Path::new("conf/brands.toml");
    match vigie_core::config::Brands::parse(path, text) {
        Ok(brands) => {
            prop_assert!(brands.iter().next().is_some(), "no brand");
            for b in brands.iter() {
                prop_assert!(vigie_core::BrandId::parse(b.id.as_str()).is_ok());
                prop_assert!(b.urgency.escalate_at <= 100);
                for pair in b.urgency.tiers.windows(2) {
                    prop_assert!(pair[0].min_score > pair[1].min_score);
                }
            }
        }
        Err(e) => {
            prop_assert!(!e.issues.is_empty());
            for issue in &e.issues {
                prop_assert!(!issue.field.is_empty() && !issue.reason.is_empty());
            }
            prop_assert!(e.to_string().starts_with("conf/brands.toml: "), "{}", e);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn brands_parse_never_panics_on_any_text(text in "\\PC{0,200}") {
        check_brands(&text)?;
    }

    #[test]
    fn brands_parse_checks_near_valid_files(
        text in brands_toml().prop_flat_map(|t| damaged(t.into_bytes()))
    ) {
        check_brands(&String::from_utf8_lossy(&text))?;
    }
}

#[test]
fn near_valid_brand_files_are_sometimes_valid() {
    let mut runner = TestRunner::deterministic();
    let strategy = brands_toml();
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..300 {
        let text = strategy.new_tree(&mut runner).expect("a value").current();
        match vigie_core::config::Brands::parse(Path::new("b.toml"), &text) {
            Ok(_) => valid += 1,
            Err(_) => invalid += 1,
        }
    }
    assert!(
        valid >= 10 && invalid >= 10,
        "{valid} valid, {invalid} invalid"
    );
}

/// The mutated payloads are near enough to the real ones that every platform's parser
/// still reads comments from some, counts ignored events in some and refuses others.
#[test]
fn mutated_real_payloads_reach_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = mutated_fixture();
    let mut seen: std::collections::BTreeMap<Platform, (usize, usize, usize)> = Default::default();
    for _ in 0..3000 {
        let (platform, body) = strategy.new_tree(&mut runner).expect("a value").current();
        let counts = seen.entry(platform).or_default();
        match platforms::source(platform).parse(platform, &body) {
            Ok(p) => {
                counts.0 += p.events.len();
                counts.1 += p.ignored.len();
            }
            Err(_) => counts.2 += 1,
        }
    }
    let pushed = Platform::ALL
        .into_iter()
        .filter(|p| platforms::source(*p).pushes())
        .count();
    assert_eq!(seen.len(), pushed, "every platform with webhooks: {seen:?}");
    for (platform, (events, ignored, refused)) in seen {
        // Google's notifications name a review to read: counted, never an event.
        let events_wanted = if platform == Platform::Google { 0 } else { 10 };
        assert!(
            events >= events_wanted && ignored >= 5 && refused >= 5,
            "{platform}: {events} events, {ignored} ignored, {refused} refused"
        );
    }
}

// ---- the poll function's pages ----

/// A feed of each platform with a read side, with an account its module accepts.
fn pull_feeds() -> Vec<(&'static dyn Pull, Feed)> {
    let account = |p: Platform| match p {
        Platform::YouTube => "UCacmeAcmeAcmeAcmeAcme00",
        Platform::Reddit => "r/acme",
        Platform::Google => "accounts/106324156478320432151/locations/5874012345678901234",
        Platform::Instagram => "17841400000000001",
        _ => "100000000000001",
    };
    let mut out = Vec::new();
    for pull in PULLS {
        for &platform in pull.platforms() {
            out.push((
                pull,
                Feed {
                    brand: BrandId::parse("acme").unwrap(),
                    platform,
                    account: account(platform).into(),
                    app: "app".into(),
                },
            ));
        }
    }
    out
}

/// Every read side on the same answer.
fn check_every_page(status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    let keys = PullKeys {
        username: Some("Acme_Officiel".into()),
        ..Default::default()
    };
    let resp = HttpResponse {
        status,
        headers: vec![("retry-after".into(), "120".into())],
        body: body.to_vec(),
    };
    for (pull, feed) in pull_feeds() {
        for asked in PAGES {
            match pull.read_page(&feed, &keys, asked, &resp) {
                Ok(page) => {
                    prop_assert!((200..300).contains(&status), "a page from an HTTP {status}");
                    let parsed = Parsed {
                        events: page.events,
                        ignored: page.ignored,
                        reads: Vec::new(),
                    };
                    assert_whole_events(feed.platform, &parsed)?;
                    for e in &parsed.events {
                        prop_assert_eq!(&e.account_id, &feed.account);
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
    Ok(())
}

/// A page of each kind the read sides ask for: a feed's first, a next page's token, a
/// listing's comments, a thread's replies, a read by id.
const PAGES: [Option<&str>; 10] = [
    None,
    Some("QURTSl9pMlB0ZkVrLXdJ"),
    Some("replies:dQw4w9WgXcQ:UgzT3hread0001"),
    Some("replies:dQw4w9WgXcQ:UgzT3hread0001:QURTSl9p"),
    Some("mention:17900000000000001"),
    Some("mention-media:18000000000000009"),
    Some("comments 0 urn:li:share:7400000000000000001"),
    Some(
        "comments 0 urn:li:share:7400000000000000001 urn:li:comment:(urn:li:activity:7400000000000000009,7400000000000000010)",
    ),
    Some("comments 7436000000000000001 0"),
    Some("comment 7436000000000000001 7437000000000000001"),
];

/// The recorded pages under tests/fixtures/pull.
fn pull_fixtures() -> &'static [Value] {
    static PAGES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    PAGES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pull");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(&root).unwrap().flatten() {
            for f in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if f.path().extension().is_some_and(|e| e == "json") {
                    out.push(serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap());
                }
            }
        }
        out.sort_by_key(|v: &Value| v.to_string());
        assert!(out.len() >= 8, "pages missing: {}", out.len());
        out
    })
}

fn mutated_page() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::option::weighted(0.7, any_json()),
    )
        .prop_flat_map(|(which, node, with)| {
            let mut v = pull_fixtures()[which.index(pull_fixtures().len())].clone();
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            mutate(&mut v, &all[node.index(all.len())], with);
            damaged(bytes_of(&v))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pages_survive_random_bytes_and_any_status(
        status in prop_oneof![Just(200u16), 100u16..600],
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check_every_page(status, &body)?;
    }

    #[test]
    fn pages_survive_any_json(v in any_json()) {
        check_every_page(200, &bytes_of(&v))?;
    }

    /// Recorded pages with a field changed, dropped or cut short, read by every module.
    #[test]
    fn mutated_real_pages_give_only_whole_comments(body in mutated_page()) {
        check_every_page(200, &body)?;
    }
}

#[test]
fn every_recorded_page_is_read_by_its_module() {
    let keys = PullKeys::default();
    for (pull, feed) in pull_feeds() {
        let dir = match feed.platform {
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
            p => p.as_str(),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/pull")
            .join(dir);
        let mut events = 0;
        for f in std::fs::read_dir(&root).unwrap().flatten() {
            let body = std::fs::read(f.path()).unwrap();
            let resp = HttpResponse {
                status: 200,
                headers: vec![],
                body,
            };
            for asked in PAGES {
                if let Ok(page) = pull.read_page(&feed, &keys, asked, &resp) {
                    events += page.events.len();
                }
            }
        }
        assert!(events > 0, "no comment read from {dir}'s pages");
    }
}
