//! The SAM template (infra/template.yaml) against what the code and ARCHITECTURE.md need:
//! every function binary deployed, every queue with its dead-letter queue, every SQS
//! source reporting batch item failures, visibility timeouts six times the consumer's
//! timeout, no wildcard action or resource, every reference resolved, and every
//! environment variable a main requires set. Each rule is shown to catch a template that
//! breaks it. `sam validate --lint` (scripts/validate-template) checks the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::Value;
use serde_yaml::value::TaggedValue;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let text = std::fs::read_to_string(workspace().join("infra/template.yaml")).unwrap();
    serde_yaml::from_str(&text).expect("the template is YAML")
}

/// Each Lambda binary of the workspace and the variables its main requires.
fn binaries() -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let functions = workspace().join("functions");
    for dir in std::fs::read_dir(&functions).unwrap() {
        let dir = dir.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        let Some(bins) = manifest.get("bin").and_then(|b| b.as_array()) else {
            continue;
        };
        for bin in bins {
            let name = bin["name"].as_str().unwrap().to_owned();
            if name == "vigie" {
                continue; // the local command, not a function
            }
            let path = bin
                .get("path")
                .and_then(|p| p.as_str())
                .unwrap_or("src/main.rs");
            let main = std::fs::read_to_string(dir.join(path)).unwrap();
            let required: BTreeSet<String> = main
                .split("required(\"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_owned)
                .collect();
            out.insert(name, required);
        }
    }
    out
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

fn resources(t: &Value) -> &serde_yaml::Mapping {
    t["Resources"].as_mapping().unwrap()
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect()
}

/// The resource a `!GetAtt X.Arn` or `!Ref X` names.
fn target(v: &Value) -> Option<&str> {
    if let Some(Value::String(s)) = tagged(v, "!GetAtt") {
        return s.split('.').next();
    }
    tagged(v, "!Ref").and_then(Value::as_str)
}

/// Every `!Ref`, `!GetAtt` and `${...}` of a `!Sub` in `v`.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Tagged(t) => {
            let TaggedValue { tag, value } = &**t;
            match (tag.to_string().as_str(), value) {
                ("!Ref", Value::String(s)) => out.push(s.clone()),
                ("!GetAtt", Value::String(s)) => {
                    out.push(s.split('.').next().unwrap_or("").to_owned())
                }
                ("!Sub", Value::String(s)) => {
                    for part in s.split("${").skip(1) {
                        let name = part.split('}').next().unwrap_or("");
                        out.push(name.split('.').next().unwrap_or("").to_owned());
                    }
                }
                _ => references(value, out),
            }
        }
        Value::Sequence(items) => items.iter().for_each(|i| references(i, out)),
        Value::Mapping(m) => m.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// What is wrong with a template, one line per broken rule.
fn violations(t: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let functions = of_type(t, "AWS::Serverless::Function");
    let globals = &t["Globals"]["Function"];

    // every Lambda binary is deployed, with what its main requires
    let deployed: BTreeMap<&str, &Value> = functions
        .iter()
        .filter_map(|(_, f)| Some((f["Metadata"]["BuildProperties"]["Binary"].as_str()?, *f)))
        .collect();
    for (bin, required) in binaries() {
        let Some(f) = deployed.get(bin.as_str()) else {
            out.push(format!("{bin} is not deployed"));
            continue;
        };
        if f["Metadata"]["BuildMethod"].as_str() != Some("rust-cargolambda") {
            out.push(format!("{bin} is not built with cargo lambda"));
        }
        for var in required {
            let set = f["Properties"]["Environment"]["Variables"]
                .get(&var)
                .is_some()
                || globals["Environment"]["Variables"].get(&var).is_some();
            if !set {
                out.push(format!("{bin} requires {var}, not set"));
            }
        }
    }

    // every queue has a dead-letter queue, unless it is one
    let queues = of_type(t, "AWS::SQS::Queue");
    let dlqs: BTreeSet<&str> = queues
        .iter()
        .filter_map(|(_, q)| target(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
        .collect();
    for (name, q) in &queues {
        if dlqs.contains(name) {
            continue;
        }
        let redrive = &q["Properties"]["RedrivePolicy"];
        let to = target(&redrive["deadLetterTargetArn"]);
        if !to.is_some_and(|d| queues.iter().any(|(n, _)| *n == d)) {
            out.push(format!("queue {name} has no dead-letter queue"));
        }
        if !number(&redrive["maxReceiveCount"]).is_some_and(|n| n >= 1.0) {
            out.push(format!("queue {name} has no maxReceiveCount"));
        }
    }

    // SQS sources: partial batch failures, and a visibility timeout 6x the consumer's
    for (name, f) in &functions {
        let timeout = number(&f["Properties"]["Timeout"])
            .or_else(|| number(&globals["Timeout"]))
            .unwrap_or(3.0);
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (event, e) in events {
            if e["Type"].as_str() != Some("SQS") {
                continue;
            }
            let event = event.as_str().unwrap_or("");
            let reports = e["Properties"]["FunctionResponseTypes"]
                .as_sequence()
                .is_some_and(|s| {
                    s.iter()
                        .any(|v| v.as_str() == Some("ReportBatchItemFailures"))
                });
            if !reports {
                out.push(format!(
                    "{name}.{event} does not report batch item failures"
                ));
            }
            let queue = target(&e["Properties"]["Queue"]);
            let visibility = queue
                .and_then(|q| resources(t).get(q))
                .and_then(|q| number(&q["Properties"]["VisibilityTimeout"]))
                .unwrap_or(30.0);
            if visibility < 6.0 * timeout {
                out.push(format!(
                    "{name}.{event}: visibility timeout {visibility} s under 6 x {timeout} s"
                ));
            }
        }
    }

    // least privilege: no wildcard action, no wildcard resource
    for (name, f) in &functions {
        let mut statements = Vec::new();
        fn collect<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
            match v {
                Value::Mapping(m) => {
                    if let Some(Value::Sequence(s)) = m.get("Statement") {
                        out.extend(s.iter());
                    }
                    m.values().for_each(|v| collect(v, out));
                }
                Value::Sequence(s) => s.iter().for_each(|v| collect(v, out)),
                Value::Tagged(t) => collect(&t.value, out),
                _ => {}
            }
        }
        collect(&f["Properties"]["Policies"], &mut statements);
        for s in statements {
            let strings = |v: &Value| -> Vec<String> {
                match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Sequence(items) => items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                    _ => vec![],
                }
            };
            for action in strings(&s["Action"]) {
                if action.contains('*') {
                    out.push(format!("{name}: wildcard action {action}"));
                }
            }
            if strings(&s["Resource"]).iter().any(|r| r == "*") {
                out.push(format!("{name}: a statement on Resource '*'"));
            }
        }
        if let Some(Value::Sequence(p)) = f["Properties"].get("Policies") {
            for policy in p {
                if let Value::String(managed) = policy {
                    out.push(format!(
                        "{name}: managed policy {managed} (wider than it needs)"
                    ));
                }
            }
        }
    }

    // every reference names a parameter, a resource or a pseudo parameter
    let mut known: BTreeSet<String> = resources(t)
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    if let Some(p) = t["Parameters"].as_mapping() {
        known.extend(p.keys().filter_map(|k| k.as_str().map(str::to_owned)));
    }
    let mut refs = Vec::new();
    references(&t["Resources"], &mut refs);
    references(&t["Globals"], &mut refs);
    references(&t["Outputs"], &mut refs);
    for r in refs {
        if !r.starts_with("AWS::") && !known.contains(&r) {
            out.push(format!(
                "reference to {r}, which the template does not define"
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_template_deploys_every_function_with_what_it_needs_and_no_more() {
    let t = template();
    assert_eq!(violations(&t), Vec::<String>::new());
    let bins = binaries();
    assert!(bins.contains_key("vigie-review") && bins.contains_key("vigie-sweep"));
    assert!(
        bins["vigie-classify"].contains("VIGIE_MODEL_DIR"),
        "the mains' required variables are read: {bins:?}"
    );
}

#[test]
fn the_table_is_the_one_architecture_md_describes() {
    let t = template();
    let (_, table) = of_type(&t, "AWS::DynamoDB::Table")[0];
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(p["TimeToLiveSpecification"]["AttributeName"], "expires_at");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        tagged(&p["DeletionProtectionEnabled"], "!Ref").and_then(Value::as_str),
        Some("DeletionProtection")
    );
    let indexes: Vec<(String, String, String)> = p["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().to_owned(),
                i["KeySchema"][0]["AttributeName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                i["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    let declared: Vec<(String, String, String)> = vigie_aws::TableSpec::INDEXES
        .iter()
        .map(|i| {
            let projection = if i.projects_all { "ALL" } else { "KEYS_ONLY" };
            (i.name.into(), i.partition_key.into(), projection.into())
        })
        .collect();
    assert_eq!(indexes, declared, "the indexes the store creates and reads");
    let types: BTreeMap<&str, &str> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    for i in vigie_aws::TableSpec::INDEXES {
        let sort = if i.numeric_sort_key { "N" } else { "S" };
        assert_eq!(types[i.sort_key], sort, "{}", i.name);
        assert_eq!(types[i.partition_key], "S", "{}", i.name);
    }
}

/// The review API is behind the JWT authorizer; the webhooks and the page are not (a
/// platform and a browser send no JWT: the functions check signatures and sessions).
#[test]
fn only_the_review_api_is_behind_the_jwt_authorizer() {
    let t = template();
    for (name, f) in of_type(&t, "AWS::Serverless::Function") {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, e) in events {
            if e["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let path = e["Properties"]["Path"].as_str().unwrap();
            let authorizer = e["Properties"]["Auth"]["Authorizer"].as_str();
            let want = path.starts_with("/api/brands/").then_some("Managers");
            assert_eq!(authorizer, want, "{name} {path}");
        }
    }
}

fn broken(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut t = template();
    edit(&mut t);
    violations(&t)
}

#[test]
fn each_rule_catches_a_template_that_breaks_it() {
    let found = |v: &[String], needle: &str| v.iter().any(|l| l.contains(needle));
    let v = broken(|t| {
        t["Resources"]["DraftQueue"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("RedrivePolicy");
    });
    assert!(
        found(&v, "queue DraftQueue has no dead-letter queue"),
        "{v:?}"
    );

    let v = broken(|t| {
        t["Resources"]["NotifyFunction"]["Properties"]["Events"]["Escalated"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("FunctionResponseTypes");
    });
    assert!(
        found(&v, "NotifyFunction.Escalated does not report"),
        "{v:?}"
    );

    let v = broken(|t| {
        t["Resources"]["ClassifyFunction"]["Properties"]["Timeout"] = 120.into();
    });
    assert!(
        found(&v, "ClassifyFunction.Queued: visibility timeout 360"),
        "{v:?}"
    );

    let v = broken(|t| {
        t["Resources"]["WebhookFunction"]["Properties"]["Policies"][0]["Statement"][0]["Action"] =
            "dynamodb:*".into();
    });
    assert!(
        found(&v, "WebhookFunction: wildcard action dynamodb:*"),
        "{v:?}"
    );

    let v = broken(|t| {
        t["Resources"]["SweepFunction"]["Properties"]["Policies"][0]["Statement"][1]["Resource"] =
            "*".into();
    });
    assert!(
        found(&v, "SweepFunction: a statement on Resource '*'"),
        "{v:?}"
    );

    let v = broken(|t| {
        t["Resources"]["ReviewFunction"]["Properties"]["Environment"]["Variables"]
            .as_mapping_mut()
            .unwrap()
            .remove("VIGIE_OIDC_JWKS");
    });
    assert!(found(&v, "vigie-review requires VIGIE_OIDC_JWKS"), "{v:?}");

    let v = broken(|t| {
        t["Resources"]["ClassifyFunction"]["Properties"]["Environment"]["Variables"]["VIGIE_DRAFT_QUEUE_URL"] =
            Value::Tagged(Box::new(TaggedValue {
                tag: serde_yaml::value::Tag::new("Ref"),
                value: "DraftsQueue".into(),
            }));
    });
    assert!(found(&v, "reference to DraftsQueue"), "{v:?}");

    let v = broken(|t| {
        resources_mut(t).remove("SweepFunction");
    });
    assert!(found(&v, "vigie-sweep is not deployed"), "{v:?}");
}

fn resources_mut(t: &mut Value) -> &mut serde_yaml::Mapping {
    t["Resources"].as_mapping_mut().unwrap()
}

#[test]
fn a_policy_allows_an_action_only_on_the_resource_it_names() {
    use vigie_tests::lambda::policy_allows;
    use vigie_tests::metering::Permission;
    let t = template();
    let on = |action: &str, index: Option<&str>| Permission {
        action: action.into(),
        index: index.map(str::to_owned),
    };
    assert!(policy_allows(
        &t,
        "vigie-classify",
        &on("dynamodb:BatchGetItem", None)
    ));
    assert!(policy_allows(
        &t,
        "vigie-classify",
        &on("dynamodb:Query", Some("GSI1"))
    ));
    assert!(!policy_allows(
        &t,
        "vigie-classify",
        &on("dynamodb:Query", Some("GSI3"))
    ));
    assert!(
        !policy_allows(&t, "vigie-classify", &on("dynamodb:Query", None)),
        "the table"
    );
    assert!(!policy_allows(
        &t,
        "vigie-classify",
        &on("dynamodb:Scan", None)
    ));
    assert!(policy_allows(
        &t,
        "vigie-review",
        &on("dynamodb:Query", Some("GSI4"))
    ));
    assert!(policy_allows(
        &t,
        "vigie-classify",
        &on("sqs:SendMessage", None)
    ));
    assert!(!policy_allows(
        &t,
        "vigie-webhook",
        &on("dynamodb:BatchGetItem", None)
    ));
}
