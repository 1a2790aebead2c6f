//! The functions' log lines: one JSON object a line, with the event's `fields`, its
//! `target` and `level`, the current span (`span`: its `name` and fields) and every span
//! it is in, outermost first (`spans`). No time: CloudWatch adds it. A queue handler logs in
//! a `batch` span (queue, messages) and, for what concerns one message, in its `message`
//! span (message_id, key, brand): see `vigie_core::events`.
//!
//! For tests: [`Capture`] keeps lines of the same format in memory, [`check_batch`] checks
//! that those of a batch name their message.

use std::cell::RefCell;
use std::io;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::{Format, Json, JsonFields};
use tracing_subscriber::fmt::{MakeWriter, SubscriberBuilder};

/// The JSON format of every function, written to `writer`.
pub fn json<W>(writer: W) -> SubscriberBuilder<JsonFields, Format<Json, ()>, LevelFilter, W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(false)
        .with_current_span(true)
        .with_span_list(true)
        .without_time()
        .with_writer(writer)
}

/// Log lines in memory, every level, in the functions' format.
///
/// Written by one subscriber for the whole process, set by the first capture: scoped
/// subscribers (`tracing::subscriber::set_default`) on threads running side by side lose
/// lines and spans, when a call site first met on another thread is remembered as
/// disabled. Each line goes to the capture started on the thread that logs it.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURING: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// Until dropped, what its thread logs goes to its capture (a current-thread runtime
/// keeps every task on that thread).
#[must_use = "the capture stops when this guard is dropped"]
pub struct Capturing {
    previous: Option<Capture>,
    /// Stays on the thread it captures.
    _thread: PhantomData<*const ()>,
}

impl Drop for Capturing {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CAPTURING.with(|c| *c.borrow_mut() = previous);
    }
}

/// The writer of the process's subscriber: the capture of the thread that logs, if any.
struct ThreadCapture;

impl io::Write for ThreadCapture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CAPTURING.with(|c| {
            if let Some(c) = c.borrow_mut().as_mut() {
                c.write_all(buf)?;
            }
            Ok(buf.len())
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Captures what this thread logs until the guard is dropped. Panics if another
    /// subscriber was set for the process.
    pub fn start(&self) -> Capturing {
        static SUBSCRIBER: OnceLock<()> = OnceLock::new();
        SUBSCRIBER.get_or_init(|| {
            tracing::subscriber::set_global_default(
                json(|| ThreadCapture)
                    .with_max_level(LevelFilter::TRACE)
                    .finish(),
            )
            .expect("no other subscriber for the process")
        });
        let previous = CAPTURING.with(|c| c.borrow_mut().replace(self.clone()));
        Capturing {
            previous,
            _thread: PhantomData,
        }
    }

    /// Every line so far, parsed; panics on a line that is not a JSON object.
    pub fn lines(&self) -> Vec<Line> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8(bytes)
            .expect("UTF-8 logs")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                assert!(v.is_object(), "not a JSON object: {l}");
                Line(v)
            })
            .collect()
    }
}

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One parsed log line.
#[derive(Debug, Clone)]
pub struct Line(pub serde_json::Value);

impl Line {
    /// The line's message (its `message` field).
    pub fn message(&self) -> &str {
        self.field("message").unwrap_or_default()
    }

    pub fn target(&self) -> &str {
        self.0["target"].as_str().unwrap_or_default()
    }

    /// A field of the event itself, when it is text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0["fields"][name].as_str()
    }

    /// The name of the span the line was logged in (the innermost).
    pub fn span_name(&self) -> Option<&str> {
        self.0["span"]["name"].as_str()
    }

    /// A field of that span, when it is text.
    pub fn span_field(&self, name: &str) -> Option<&str> {
        self.0["span"][name].as_str()
    }

    /// The names of the spans the line was logged in, outermost first.
    pub fn span_names(&self) -> Vec<&str> {
        self.0["spans"]
            .as_array()
            .map(|spans| spans.iter().filter_map(|s| s["name"].as_str()).collect())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The ids of the messages in whose span the lines of this message were logged, in order.
pub fn message_ids<'l>(lines: &'l [Line], message: &str) -> Vec<&'l str> {
    lines
        .iter()
        .filter(|l| l.message() == message)
        .map(|l| l.span_field("message_id").unwrap_or("(no message span)"))
        .collect()
}

/// Checks the lines of vigie's crates logged while one batch of `queue` was handled:
/// `messages` are its message ids with the key of the comment each is about (none for a
/// body that cannot be read). Every line is logged in the batch's span, with the number of
/// messages; every line but those whose message is in `batch_wide` in the span of a
/// message of the batch, inside the batch's, which names the message, and once its body is
/// read, its comment's key and brand; a line naming a message id, a key or a brand of its
/// own names those of its span.
pub fn check_batch(
    lines: &[Line],
    queue: &str,
    messages: &[(&str, Option<&str>)],
    batch_wide: &[&str],
) {
    let ours: Vec<&Line> = lines
        .iter()
        .filter(|l| l.target().starts_with("vigie"))
        .collect();
    assert!(!ours.is_empty(), "nothing logged");
    for line in ours {
        let batch = &line.0["spans"][0];
        assert_eq!(
            (batch["name"].as_str(), batch["queue"].as_str()),
            (Some("batch"), Some(queue)),
            "logged in the batch's span: {line}"
        );
        assert_eq!(
            batch["messages"].as_u64(),
            Some(messages.len() as u64),
            "{line}"
        );
        if batch_wide.contains(&line.message()) {
            assert_eq!(line.span_names(), ["batch"], "{line}");
            continue;
        }
        assert_eq!(
            line.span_names(),
            ["batch", "message"],
            "a line about one message is logged in its span: {line}"
        );
        let id = line
            .span_field("message_id")
            .expect("the span names its message");
        let Some((_, key)) = messages.iter().find(|(m, _)| *m == id) else {
            panic!("a message of the batch: {line}");
        };
        let brand = key.map(|k| k.split('/').next().unwrap_or_default());
        assert_eq!(
            line.span_field("key"),
            *key,
            "the message's comment: {line}"
        );
        assert_eq!(
            line.span_field("brand"),
            brand,
            "the comment's brand: {line}"
        );
        for (name, value) in [("message_id", Some(id)), ("key", *key), ("brand", brand)] {
            if let Some(own) = line.field(name) {
                assert_eq!(
                    Some(own),
                    value,
                    "the line's own {name} is its span's: {line}"
                );
            }
        }
    }
}
