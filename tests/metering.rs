//! A metering proxy in front of moto: every AWS call a function makes, with what DynamoDB
//! would charge for it in on-demand request units, by DynamoDB's published rules.
//!
//! - Item size: attribute names plus values (strings and binaries by their bytes, numbers
//!   by one byte per two significant digits plus one, lists and maps 3 bytes plus 1 per
//!   element), as the DynamoDB developer guide ("Item sizes and formats") counts them.
//! - Writes: one unit per started KB of the larger of the item before and after, and for
//!   every global secondary index the item is in before or after, one unit per started KB
//!   of its entry there (the item as the index projects it: whole, or its keys only): a
//!   changed index key is a delete and a put there; an unchanged entry (same key, same
//!   projected attributes) costs nothing; twice that in `TransactWriteItems` (counted for
//!   the indexes too: an upper bound); a
//!   write refused by its condition costs the base units alone; a `ConditionCheck`, two
//!   units per started KB of the item checked.
//! - Reads: one unit per started 4 KB of what is read (0.5 eventually consistent, as
//!   every index read is): an item for `GetItem` (a missing one still costs the minimum),
//!   each item for `BatchGetItem`, and for `Query` the sum of every item the query passes,
//!   before its filter and its projection — the proxy runs the query again without them to
//!   weigh those items.
//!
//! The proxy reads the item before and after each write itself (not metered), so a
//! function behind it runs slower: time functions pointed at moto directly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde_json::{Map, Value, json};

/// vigie's table keys and its global secondary indexes (infra/template.yaml).
const KEY: [&str; 2] = vigie_aws::TableSpec::KEY;
const INDEXES: [vigie_aws::IndexSpec; 4] = vigie_aws::TableSpec::INDEXES;

/// `item`'s entry in `index`, as the index projects it, if the item is in it.
fn entry_in(index: &vigie_aws::IndexSpec, item: &Item) -> Option<Item> {
    if !(item.contains_key(index.partition_key) && item.contains_key(index.sort_key)) {
        return None;
    }
    if index.projects_all {
        return Some(item.clone());
    }
    Some(
        KEY.iter()
            .chain([&index.partition_key, &index.sort_key])
            .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect(),
    )
}

/// The sizes of `item`'s entries in vigie's global secondary indexes, one per index it is in.
pub fn index_entry_sizes(item: &Item) -> Vec<usize> {
    INDEXES
        .iter()
        .filter_map(|index| entry_in(index, item))
        .map(|entry| item_size(&entry))
        .collect()
}

/// One AWS call, as metered.
#[derive(Debug, Clone)]
pub struct Call {
    /// `DynamoDB`, `SQS`, `SSM`, ... (from `X-Amz-Target`).
    pub service: String,
    pub operation: String,
    pub request_bytes: usize,
    pub read_units: f64,
    pub write_units: f64,
    /// The write units by the kind of item written (`kind` of its key).
    pub writes_by_kind: Vec<(&'static str, f64)>,
    /// What IAM must allow for it.
    pub permissions: Vec<Permission>,
}

/// An IAM action a call needs (`dynamodb:PutItem`), on a table's index if it reads one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub action: String,
    pub index: Option<String>,
}

/// The IAM actions a call needs: each action of a `TransactWriteItems` its own, a batch
/// of SQS messages the action of one message (IAM has no batch actions), a `Query` or
/// `Scan` on the index it names.
pub fn permissions(service: &str, operation: &str, request: &Value) -> Vec<Permission> {
    let plain = |action: String| Permission {
        action,
        index: None,
    };
    match service {
        "DynamoDB" => match operation {
            "TransactWriteItems" => request["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_object()?.keys().next().cloned())
                .map(|kind| {
                    plain(match kind.as_str() {
                        "ConditionCheck" => "dynamodb:ConditionCheckItem".to_owned(),
                        other => format!("dynamodb:{other}Item"),
                    })
                })
                .collect(),
            "Query" | "Scan" => vec![Permission {
                action: format!("dynamodb:{operation}"),
                index: request["IndexName"].as_str().map(str::to_owned),
            }],
            other => vec![plain(format!("dynamodb:{other}"))],
        },
        "SQS" => vec![plain(format!(
            "sqs:{}",
            operation.strip_suffix("Batch").unwrap_or(operation)
        ))],
        "SSM" => vec![plain(format!("ssm:{operation}"))],
        other => vec![plain(format!("{other}:{operation}"))],
    }
}

/// What a vigie item is, from its key (ARCHITECTURE.md's table).
pub fn kind(key: &Item) -> &'static str {
    let s = |k: &str| key.get(k).and_then(|v| v["S"].as_str()).unwrap_or_default();
    let (pk, sk) = (s("PK"), s("SK"));
    match (pk.split('#').next().unwrap_or_default(), sk) {
        ("C", "C") => "comment",
        ("C", "D") => "drafts",
        ("C", "R") => "review",
        ("C", "I") => "inbox entry",
        ("C", sk) if sk.starts_with("A#") => "audit record",
        ("R", _) => "raw delivery",
        ("E", _) => "seen event",
        ("B", _) => "brand content",
        ("USERS", _) => "user",
        _ => "other",
    }
}

pub struct Meter {
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Meter {
    /// Listens on a loopback port, forwarding to `upstream`.
    pub async fn start(upstream: &str) -> Meter {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let state = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            calls: Arc::clone(&calls),
        };
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.forward(method, uri, headers, body).await }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Meter { endpoint, calls }
    }

    /// The calls metered since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    calls: Arc<Mutex<Vec<Call>>>,
}

pub type Item = Map<String, Value>;

impl Proxy {
    async fn forward(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (service, operation) = match target.split_once('.') {
            Some((s, o)) => (service_name(s), o.to_owned()),
            None => ("other".to_owned(), uri.path().to_owned()),
        };
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let dynamo = service == "DynamoDB";
        let writes = if dynamo {
            written_keys(&operation, &request)
        } else {
            Vec::new()
        };
        let mut before = Vec::new();
        for (table, key) in &writes {
            before.push(self.get_item(table, key).await);
        }

        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut out = self
            .http
            .request(method, format!("{}{path}", self.upstream))
            .body(body.clone());
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                out = out.header(name, value);
            }
        }
        let answer = out.send().await.expect("moto answers");
        let status = answer.status();
        let mut answer_headers = HeaderMap::new();
        for (name, value) in answer.headers() {
            if name != "content-length" && name != "transfer-encoding" {
                answer_headers.insert(name.clone(), value.clone());
            }
        }
        let answer_body = answer.bytes().await.unwrap_or_default();

        let (mut read_units, mut write_units) = (0.0, 0.0);
        let mut writes_by_kind = Vec::new();
        if dynamo {
            let response: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
            let refused = !status.is_success();
            let mut after = Vec::new();
            for (table, key) in &writes {
                after.push(self.get_item(table, key).await);
            }
            let units = write_cost(&operation, &request, &before, &after, refused);
            writes_by_kind = writes
                .iter()
                .map(|(_, k)| kind(k))
                .zip(units.iter().copied())
                .collect();
            write_units = units.iter().sum();
            read_units = match operation.as_str() {
                "GetItem" => read_cost(
                    &[response["Item"].as_object().map(item_size).unwrap_or(0)],
                    consistent(&request),
                ),
                "BatchGetItem" => batch_get_cost(&request, &response),
                "Query" | "Scan" if !refused => {
                    let passed = self.items_passed(&operation, &request).await;
                    query_cost(&passed, consistent(&request))
                }
                _ => 0.0,
            };
        }
        let permissions = permissions(&service, &operation, &request);
        self.calls.lock().unwrap().push(Call {
            service,
            operation,
            request_bytes: body.len(),
            read_units,
            write_units,
            writes_by_kind,
            permissions,
        });
        (status, answer_headers, answer_body)
    }

    async fn call(&self, operation: &str, body: &Value) -> Value {
        dynamodb(&self.http, &self.upstream, operation, body).await
    }

    async fn get_item(&self, table: &str, key: &Item) -> Option<Item> {
        let got = self
            .call(
                "GetItem",
                &json!({"TableName": table, "Key": key, "ConsistentRead": true}),
            )
            .await;
        got["Item"].as_object().cloned()
    }

    /// Every item a query (or scan) page passes, whole: the same request without its
    /// filter, projection or count-only selection.
    async fn items_passed(&self, operation: &str, request: &Value) -> Vec<usize> {
        let mut again = request.clone();
        let obj = again.as_object_mut().unwrap();
        for field in [
            "FilterExpression",
            "ProjectionExpression",
            "Select",
            "ReturnConsumedCapacity",
        ] {
            obj.remove(field);
        }
        prune_expression_attributes(obj);
        let got = self.call(operation, &again).await;
        got["Items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_object)
                    .map(item_size)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A DynamoDB call on `endpoint` in the JSON protocol, not metered.
async fn dynamodb(http: &reqwest::Client, endpoint: &str, operation: &str, body: &Value) -> Value {
    let answer = http
        .post(endpoint)
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261203/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("moto answers");
    answer.json().await.unwrap_or(Value::Null)
}

/// Every item of the partition `pk` of `table` on `endpoint`.
pub async fn partition(endpoint: &str, table: &str, pk: &str) -> Vec<Item> {
    let got = dynamodb(
        &reqwest::Client::new(),
        endpoint,
        "Query",
        &json!({"TableName": table, "KeyConditionExpression": "PK = :pk",
                "ExpressionAttributeValues": {":pk": {"S": pk}}, "ConsistentRead": true}),
    )
    .await;
    got["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_object().cloned())
        .collect()
}

fn service_name(prefix: &str) -> String {
    match prefix {
        p if p.starts_with("DynamoDB") => "DynamoDB",
        "AmazonSQS" => "SQS",
        "AmazonSSM" => "SSM",
        other => other,
    }
    .to_owned()
}

fn consistent(request: &Value) -> bool {
    request["ConsistentRead"].as_bool().unwrap_or(false)
}

/// Drops the `#names` and `:values` no remaining expression uses (DynamoDB refuses those).
fn prune_expression_attributes(obj: &mut Map<String, Value>) {
    let expressions: String = [
        "KeyConditionExpression",
        "FilterExpression",
        "ProjectionExpression",
        "ConditionExpression",
    ]
    .iter()
    .filter_map(|f| obj.get(*f).and_then(Value::as_str))
    .collect::<Vec<_>>()
    .join(" ");
    let used = |token: &str| {
        expressions.match_indices(token).any(|(i, _)| {
            let next = expressions[i + token.len()..].chars().next();
            !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    };
    for field in ["ExpressionAttributeNames", "ExpressionAttributeValues"] {
        if let Some(Value::Object(map)) = obj.get_mut(field) {
            map.retain(|token, _| used(token));
            if map.is_empty() {
                obj.remove(field);
            }
        }
    }
}

/// The (table, key) of every item a DynamoDB write request touches, in its order.
fn written_keys(operation: &str, request: &Value) -> Vec<(String, Item)> {
    let key_of = |item: &Value| -> Item {
        KEY.iter()
            .filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    };
    let table = || request["TableName"].as_str().unwrap_or_default().to_owned();
    match operation {
        "PutItem" => vec![(table(), key_of(&request["Item"]))],
        "UpdateItem" | "DeleteItem" => vec![(table(), key_of(&request["Key"]))],
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|action| {
                let (kind, body) = action.as_object()?.iter().next()?;
                let key = if kind == "Put" {
                    key_of(&body["Item"])
                } else {
                    key_of(&body["Key"])
                };
                Some((body["TableName"].as_str()?.to_owned(), key))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Write units of a write request, from the items before and after it.
fn write_cost(
    operation: &str,
    request: &Value,
    before: &[Option<Item>],
    after: &[Option<Item>],
    refused: bool,
) -> Vec<f64> {
    let actions: Vec<&str> = match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => vec!["write"],
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                if a.get("ConditionCheck").is_some() {
                    "check"
                } else {
                    "write"
                }
            })
            .collect(),
        _ => return Vec::new(),
    };
    let factor = if operation == "TransactWriteItems" {
        2.0
    } else {
        1.0
    };
    actions
        .iter()
        .zip(before.iter().zip(after))
        .map(|(action, (b, a))| {
            let units = if *action == "check" || refused {
                kb(b.as_ref().map(item_size).unwrap_or(0))
            } else {
                item_write_units(b.as_ref(), a.as_ref())
            };
            factor * units
        })
        .collect()
}

fn kb(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// One item's write: the table and each index it is in before or after.
pub fn item_write_units(before: Option<&Item>, after: Option<&Item>) -> f64 {
    let size = |i: Option<&Item>| i.map(item_size).unwrap_or(0);
    let mut units = kb(size(before).max(size(after)));
    for index in &INDEXES {
        let entry = |i: Option<&Item>| i.and_then(|i| entry_in(index, i));
        let key = |e: &Item| {
            (
                e.get(index.partition_key).cloned(),
                e.get(index.sort_key).cloned(),
            )
        };
        units += match (entry(before), entry(after)) {
            (Some(x), Some(y)) if x == y => 0.0,
            (Some(x), Some(y)) if key(&x) == key(&y) => kb(item_size(&x).max(item_size(&y))),
            (Some(x), Some(y)) => kb(item_size(&x)) + kb(item_size(&y)),
            (Some(x), None) => kb(item_size(&x)),
            (None, Some(y)) => kb(item_size(&y)),
            (None, None) => 0.0,
        };
    }
    units
}

/// Read units of reading items of these sizes one by one.
fn read_cost(sizes: &[usize], consistent: bool) -> f64 {
    let factor = if consistent { 1.0 } else { 0.5 };
    sizes
        .iter()
        .map(|s| s.div_ceil(4096).max(1) as f64 * factor)
        .sum()
}

/// A query's read units: the sum of what it passes, by started 4 KB.
pub fn query_cost(sizes: &[usize], consistent: bool) -> f64 {
    let factor = if consistent { 1.0 } else { 0.5 };
    sizes.iter().sum::<usize>().div_ceil(4096).max(1) as f64 * factor
}

fn batch_get_cost(request: &Value, response: &Value) -> f64 {
    let mut units = 0.0;
    for (table, asked) in request["RequestItems"].as_object().into_iter().flatten() {
        let keys = asked["Keys"].as_array().map(Vec::len).unwrap_or(0);
        let sizes: Vec<usize> = response["Responses"][table]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .map(item_size)
            .collect();
        let consistent = asked["ConsistentRead"].as_bool().unwrap_or(false);
        units += read_cost(&sizes, consistent);
        // keys not found still cost the minimum each
        units += read_cost(&vec![0; keys.saturating_sub(sizes.len())], consistent);
    }
    units
}

/// An item's size as DynamoDB counts it.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
        return 0;
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    match kind.as_str() {
        "S" => inner.as_str().map(str::len).unwrap_or(0),
        "N" => inner.as_str().map(number_size).unwrap_or(0),
        "B" => inner.as_str().map(binary_size).unwrap_or(0),
        "BOOL" | "NULL" => 1,
        "SS" => strings(inner).iter().map(String::len).sum(),
        "NS" => strings(inner).iter().map(|n| number_size(n)).sum(),
        "BS" => strings(inner).iter().map(|b| binary_size(b)).sum(),
        "L" => {
            3 + inner
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| 1 + value_size(e))
                .sum::<usize>()
        }
        "M" => {
            3 + inner
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn binary_size(b64: &str) -> usize {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(|b| b.len())
        .unwrap_or(b64.len())
}

/// One byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits: String = n
        .trim_start_matches('-')
        .split(['e', 'E'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

/// Calls grouped by `service operation`: how many, units read and written, request bytes.
pub fn summary(calls: &[Call]) -> BTreeMap<String, (usize, f64, f64, usize)> {
    let mut out: BTreeMap<String, (usize, f64, f64, usize)> = BTreeMap::new();
    for c in calls {
        let e = out
            .entry(format!("{} {}", c.service, c.operation))
            .or_default();
        e.0 += 1;
        e.1 += c.read_units;
        e.2 += c.write_units;
        e.3 += c.request_bytes;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sizes_as_dynamodb_counts_them() {
        // name + UTF-8 bytes
        assert_eq!(item_size(&item(json!({"PK": {"S": "é1"}}))), 2 + 3);
        // numbers: 1 byte per two significant digits + 1 (12300 → "123": 2 + 1)
        assert_eq!(number_size("12300"), 3);
        assert_eq!(number_size("-0.5"), 2);
        assert_eq!(number_size("1764086400000"), 5);
        // binary by its decoded bytes; booleans 1
        assert_eq!(
            item_size(&item(json!({"b": {"B": "AAECAw=="}, "t": {"BOOL": true}}))),
            1 + 4 + 1 + 1
        );
        // a map: 3 + per element (1 + name + value)
        assert_eq!(value_size(&json!({"M": {"a": {"S": "xy"}}})), 3 + 1 + 1 + 2);
        assert_eq!(
            value_size(&json!({"L": [{"S": "xy"}, {"NULL": true}]})),
            3 + 3 + 2
        );
    }

    #[test]
    fn writes_count_the_table_and_every_index_entry_as_projected() {
        let small = item(json!({"PK": {"S": "C#a"}, "SK": {"S": "C"}}));
        assert_eq!(item_write_units(None, Some(&small)), 1.0);
        let big = "x".repeat(1500);
        // an inbox entry of 2 KB: GSI2 projects it whole
        let entry = item(
            json!({"PK": {"S": "C#a"}, "SK": {"S": "I"}, "body": {"S": big},
            "GSI2PK": {"S": "INBOX#a"}, "GSI2SK": {"S": "080"}}),
        );
        assert_eq!(item_write_units(None, Some(&entry)), 2.0 + 2.0);
        // its key changes: a delete there, then a put
        let mut moved = entry.clone();
        moved.insert("GSI2SK".into(), json!({"S": "050"}));
        assert_eq!(
            item_write_units(Some(&entry), Some(&moved)),
            2.0 + 2.0 + 2.0
        );
        // same key, another attribute: the entry is written again
        let mut edited = entry.clone();
        edited.insert("status".into(), json!({"S": "claimed"}));
        assert_eq!(item_write_units(Some(&entry), Some(&edited)), 2.0 + 2.0);
        assert_eq!(
            item_write_units(Some(&entry), None),
            4.0,
            "deleting frees both"
        );

        // a 2 KB comment in GSI1 and GSI4, which project its keys: 1 unit an entry
        let comment = item(
            json!({"PK": {"S": "C#a"}, "SK": {"S": "C"}, "body": {"S": "x".repeat(1500)},
            "GSI1PK": {"S": "T"}, "GSI1SK": {"S": "1"}, "GSI4PK": {"S": "RCV#a"}, "GSI4SK": {"N": "1"}}),
        );
        assert_eq!(item_write_units(None, Some(&comment)), 2.0 + 1.0 + 1.0);
        // its body changes, its keys stay: the entries are untouched
        let mut triaged = comment.clone();
        triaged.insert("body".into(), json!({"S": "y".repeat(1800)}));
        assert_eq!(item_write_units(Some(&comment), Some(&triaged)), 2.0);
        // it enters GSI3 (keys only) too
        let mut pending = comment.clone();
        pending.insert("GSI3PK".into(), json!({"S": "PENDING"}));
        pending.insert("GSI3SK".into(), json!({"N": "1"}));
        assert_eq!(item_write_units(Some(&comment), Some(&pending)), 2.0 + 1.0);
        assert_eq!(index_entry_sizes(&pending).len(), 3);
        assert!(index_entry_sizes(&pending).iter().all(|&s| s < 100));
    }

    #[test]
    fn calls_need_the_iam_actions_of_what_they_do() {
        let p = |s, o, r: Value| {
            permissions(s, o, &r)
                .into_iter()
                .map(|p| (p.action, p.index))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            p(
                "DynamoDB",
                "TransactWriteItems",
                json!({"TransactItems": [
                {"Put": {}}, {"Delete": {}}, {"ConditionCheck": {}}]})
            ),
            [
                ("dynamodb:PutItem".to_owned(), None),
                ("dynamodb:DeleteItem".to_owned(), None),
                ("dynamodb:ConditionCheckItem".to_owned(), None)
            ]
        );
        assert_eq!(
            p("DynamoDB", "Query", json!({"IndexName": "GSI3"})),
            [("dynamodb:Query".to_owned(), Some("GSI3".to_owned()))]
        );
        assert_eq!(
            p("SQS", "SendMessageBatch", json!({})),
            [("sqs:SendMessage".to_owned(), None)]
        );
    }

    #[test]
    fn reads_by_started_4_kb() {
        assert_eq!(read_cost(&[0], true), 1.0);
        assert_eq!(read_cost(&[5000], false), 1.0);
        assert_eq!(query_cost(&[3000, 3000], false), 1.0);
        assert_eq!(query_cost(&[3000, 3000, 3000], true), 3.0);
        assert_eq!(query_cost(&[], false), 0.5);
    }

    #[test]
    fn a_query_again_keeps_only_the_names_and_values_it_uses() {
        let mut q = json!({
            "KeyConditionExpression": "GSI2PK = :pk",
            "ExpressionAttributeNames": {"#s": "status", "#p": "platform"},
            "ExpressionAttributeValues": {":pk": {"S": "INBOX#acme"}, ":pk2": {"S": "x"}},
        });
        prune_expression_attributes(q.as_object_mut().unwrap());
        assert_eq!(
            q,
            json!({"KeyConditionExpression": "GSI2PK = :pk",
                   "ExpressionAttributeValues": {":pk": {"S": "INBOX#acme"}}})
        );
    }
}
