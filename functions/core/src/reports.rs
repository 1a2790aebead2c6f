//! Management reports: what a brand's comments added up to over a period of days, for the
//! managers' report page (as JSON) and its CSV export.
//!
//! A [`Report`] is computed from [`ReportFact`]s, one per comment (its latest version): the
//! flat facts taken from the comment's triage and its review. Nothing here reads a store.
//! Days are the brand's local days: a [`Period`] names its first and last day (both
//! included) and the brand's offset from UTC, and a comment counts on the local day it was
//! received.
//!
//! Per day, every day of the period present and zero-filled: the volume by platform, the
//! sentiment counts (negative, neutral, positive, and unknown for comments without text),
//! so that shares can be drawn over time, the urgent (escalated) comments, the SLA breaches
//! and the spike flag. Over the period: the same totals, the count per review status, the
//! median time to the first response, the share of replies sent as vigie drafted them, the
//! top intents and the spike days.
//!
//! An SLA breach is a comment whose urgency tier gives it a response time (`received_at` +
//! `respond_within_minutes`) and whose first reply went out after it, or that has no reply
//! and is past due at the report's `now`. It counts on the day the comment was received.
//!
//! # Spikes
//!
//! A spike day is one whose negative comments are far above the brand's own recent days.
//! For a day with `n` negative comments:
//!
//! - its history is the negative counts of the [`HISTORY_DAYS`] (14) days before it. Days
//!   before the first fact given are no history (not zeros): with fewer than
//!   [`MIN_HISTORY_DAYS`] (7) days of history, a day is never a spike;
//! - the baseline `b` is the median of the history, and the spread
//!   `s = max(1.4826 × MAD, √b, 1)`, where MAD is the median of `|h − b|` over the history.
//!   1.4826 × MAD estimates a standard deviation without being moved by a few odd days; √b
//!   is the noise of a count that averages `b` (Poisson), so that a flat history still
//!   needs a real jump; 1 keeps a brand with almost no negatives from a spread of 0;
//! - the day is a spike when `n ≥ max(b + 3s, 2b, 5)`: at least three spreads above the
//!   usual, at least twice the usual, and at least [`SPIKE_MIN_NEGATIVES`] (5) negatives.
//!
//! Medians keep the baseline robust: one bad day in the history does not raise it, so the
//! days after a spike are judged against the usual days. A slow ramp widens the spread and
//! drags the baseline along, so it is not flagged day after day. For the first days of the
//! period to have a history, the caller passes the facts of the 14 days before the period
//! as well: [`Period::window`] is the span to read. Facts outside it are not counted.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::comment::{BrandId, Comment, Platform, Sentiment};
use crate::review::{Review, ReviewStatus};
use crate::time::Timestamp;
use crate::understanding::Intent;

/// Longest period a report covers: a leap year.
pub const MAX_PERIOD_DAYS: i64 = 366;

/// Farthest a brand's clock is from UTC, either way: ±14 hours (the world's offsets run
/// from −12:00 to +14:00).
pub const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;

/// Days before a day that its spike baseline is taken from.
pub const HISTORY_DAYS: i64 = 14;

/// Fewest days of history a spike baseline needs; a day with less is never a spike.
pub const MIN_HISTORY_DAYS: usize = 7;

/// How many spreads above the baseline a spike day is, at least.
pub const SPIKE_SPREADS: f64 = 3.0;

/// How many times the baseline a spike day is, at least.
pub const SPIKE_RATIO: f64 = 2.0;

/// Fewest negative comments a spike day has.
pub const SPIKE_MIN_NEGATIVES: u32 = 5;

/// Turns a median absolute deviation into a standard deviation (for normal noise).
const MAD_TO_SD: f64 = 1.4826;

/// Intents listed in a report's totals.
pub const TOP_INTENTS: usize = 10;

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("day {0:?} is not a date written YYYY-MM-DD (years 0000 to 9999)")]
    Day(String),
    #[error("the period ends on {to}, before it starts on {from}")]
    Reversed { from: Day, to: Day },
    #[error("the period spans {days} days, over the {MAX_PERIOD_DAYS}-day limit")]
    TooLong { days: i64 },
    #[error("a UTC offset of {0} minutes is beyond ±{MAX_UTC_OFFSET_MINUTES} minutes (±14 hours)")]
    UtcOffset(i32),
}

/// A civil date, written `YYYY-MM-DD`, in years 0000 to 9999 (those a [`Timestamp`] can
/// write). Which instants it covers depends on an offset from UTC: see [`Day::start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Day(time::Date);

impl Day {
    pub const MIN: Day = Day(time::macros::date!(0000 - 01 - 01));
    pub const MAX: Day = Day(time::macros::date!(9999 - 12 - 31));

    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<Self, ReportError> {
        let bad = || ReportError::Day(format!("{year:04}-{month:02}-{day:02}"));
        if !(0..=9999).contains(&year) {
            return Err(bad());
        }
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        time::Date::from_calendar_date(year, month, day)
            .map(Self)
            .map_err(|_| bad())
    }

    /// Exactly `YYYY-MM-DD`: four-digit year, two-digit month and day, a date that exists.
    pub fn parse(s: &str) -> Result<Self, ReportError> {
        let bad = || ReportError::Day(s.to_owned());
        let shaped = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !shaped {
            return Err(bad());
        }
        let number = |r: Range<usize>| s[r].parse::<u16>().map_err(|_| bad());
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        Self::from_ymd(i32::from(year), month as u8, day as u8).map_err(|_| bad())
    }

    /// The local day of an instant at `utc_offset_minutes` east of UTC; instants beyond
    /// [`Day::MIN`] and [`Day::MAX`] give those days.
    pub fn of(t: Timestamp, utc_offset_minutes: i32) -> Self {
        Self::from_epoch_day(local_epoch_day(t, utc_offset_minutes))
    }

    /// The first instant of this day at `utc_offset_minutes` east of UTC.
    pub fn start(self, utc_offset_minutes: i32) -> Timestamp {
        day_start(self.epoch_day(), utc_offset_minutes)
    }

    /// Days since 1970-01-01.
    fn epoch_day(self) -> i64 {
        i64::from(self.0.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY
    }

    /// The day so many days after 1970-01-01, held within [`Day::MIN`] and [`Day::MAX`].
    fn from_epoch_day(n: i64) -> Self {
        let julian = n
            .saturating_add(UNIX_EPOCH_JULIAN_DAY)
            .clamp(Self::MIN.julian(), Self::MAX.julian());
        i32::try_from(julian)
            .ok()
            .and_then(|j| time::Date::from_julian_day(j).ok())
            .map_or(Self::MIN, Self)
    }

    fn julian(self) -> i64 {
        i64::from(self.0.to_julian_day())
    }
}

/// Days since 1970-01-01 of the local day an instant falls on.
fn local_epoch_day(t: Timestamp, utc_offset_minutes: i32) -> i64 {
    t.millis()
        .saturating_add(i64::from(utc_offset_minutes) * MINUTE_MS)
        .div_euclid(DAY_MS)
}

/// The first instant of a local day given as days since 1970-01-01.
fn day_start(epoch_day: i64, utc_offset_minutes: i32) -> Timestamp {
    Timestamp(epoch_day * DAY_MS - i64::from(utc_offset_minutes) * MINUTE_MS)
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl FromStr for Day {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Day {
    type Error = ReportError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Day> for String {
    fn from(d: Day) -> String {
        d.to_string()
    }
}

/// The days a report covers: `from` to `to`, both included, at most [`MAX_PERIOD_DAYS`],
/// counted in the brand's local time, `utc_offset_minutes` east of UTC (+60 for Paris in
/// winter, −300 for New York).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PeriodFields")]
pub struct Period {
    from: Day,
    to: Day,
    utc_offset_minutes: i32,
}

#[derive(Deserialize)]
struct PeriodFields {
    from: Day,
    to: Day,
    utc_offset_minutes: i32,
}

impl TryFrom<PeriodFields> for Period {
    type Error = ReportError;
    fn try_from(p: PeriodFields) -> Result<Self, Self::Error> {
        Self::new(p.from, p.to, p.utc_offset_minutes)
    }
}

impl Period {
    pub fn new(from: Day, to: Day, utc_offset_minutes: i32) -> Result<Self, ReportError> {
        if utc_offset_minutes.abs() > MAX_UTC_OFFSET_MINUTES {
            return Err(ReportError::UtcOffset(utc_offset_minutes));
        }
        let days = to.epoch_day() - from.epoch_day() + 1;
        if days < 1 {
            return Err(ReportError::Reversed { from, to });
        }
        if days > MAX_PERIOD_DAYS {
            return Err(ReportError::TooLong { days });
        }
        Ok(Self {
            from,
            to,
            utc_offset_minutes,
        })
    }

    pub fn from(&self) -> Day {
        self.from
    }

    pub fn to(&self) -> Day {
        self.to
    }

    pub fn utc_offset_minutes(&self) -> i32 {
        self.utc_offset_minutes
    }

    /// How many days it covers, 1 to [`MAX_PERIOD_DAYS`].
    pub fn days(&self) -> usize {
        (self.to.epoch_day() - self.from.epoch_day() + 1) as usize
    }

    /// The instants whose comments a report of this period reads: from the start of the
    /// [`HISTORY_DAYS`] days before the period (the spike baseline of its first days) to
    /// the end of its last day, excluded.
    pub fn window(&self) -> Range<Timestamp> {
        let offset = self.utc_offset_minutes;
        day_start(self.from.epoch_day() - HISTORY_DAYS, offset)
            ..day_start(self.to.epoch_day() + 1, offset)
    }
}

/// The first reply sent to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstResponse {
    pub at: Timestamp,
    /// The text sent is not vigie's draft as written.
    pub ai_edited: bool,
}

/// What a report needs to know of one comment (its latest version), flat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFact {
    pub brand: BrandId,
    pub platform: Platform,
    pub received_at: Timestamp,
    /// `None` for a comment without text: counted as unknown.
    pub sentiment: Option<Sentiment>,
    /// The intent the heads read; `None` without text or heads.
    pub intent: Option<Intent>,
    /// The urgency escalated it.
    pub urgent: bool,
    /// When it should have had a reply by: `received_at` + its tier's response time;
    /// `None` when its urgency has no tier.
    pub sla_due: Option<Timestamp>,
    /// `None` while no reply was sent.
    pub first_response: Option<FirstResponse>,
    /// Where the managers are with it; `new` when no review was opened yet.
    pub status: ReviewStatus,
}

impl ReportFact {
    /// The facts of a comment and its review; `None` for a comment not triaged yet (or
    /// never triaged: the brand's own replies). A review of another comment is ignored.
    pub fn of(comment: &Comment, review: Option<&Review>) -> Option<Self> {
        let triage = comment.triage.as_ref()?;
        let review = review.filter(|r| r.key == comment.key);
        let urgency = &triage.urgency;
        let sla_due = urgency
            .tier
            .as_ref()
            .and(urgency.respond_within_minutes)
            .map(|m| comment.received_at.plus_millis(i64::from(m) * MINUTE_MS));
        Some(Self {
            brand: comment.key.brand.clone(),
            platform: comment.key.platform,
            received_at: comment.received_at,
            sentiment: triage.sentiment.as_ref().map(|s| s.label),
            intent: triage.understanding.as_ref().map(|u| u.intent),
            urgent: urgency.escalate,
            sla_due,
            first_response: review.and_then(|r| r.sent.as_ref()).map(|s| FirstResponse {
                at: s.at,
                ai_edited: s.ai_edited,
            }),
            status: review.map_or(ReviewStatus::New, |r| r.status),
        })
    }

    /// It has a response time and its first reply went out after it, or it has no reply,
    /// `now` is past it and a reply was owed (not hidden, ignored or withdrawn). A reply at
    /// the due instant is on time.
    pub fn sla_breached(&self, now: Timestamp) -> bool {
        let Some(due) = self.sla_due else {
            return false;
        };
        match self.first_response {
            Some(r) => r.at > due,
            // set aside on purpose (hidden, ignored) or gone (withdrawn): no reply was owed
            None => {
                now > due
                    && !matches!(
                        self.status,
                        ReviewStatus::Hidden | ReviewStatus::Ignored | ReviewStatus::Withdrawn
                    )
            }
        }
    }

    /// Minutes from receipt to the first reply (0 for a reply stamped before receipt).
    fn minutes_to_first_response(&self) -> Option<f64> {
        let r = self.first_response?;
        let ms =
            r.at.millis()
                .saturating_sub(self.received_at.millis())
                .max(0);
        Some(ms as f64 / MINUTE_MS as f64)
    }
}

/// Comments by sentiment; unknown ones had no text to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentimentCounts {
    pub negative: u32,
    pub neutral: u32,
    pub positive: u32,
    pub unknown: u32,
}

impl SentimentCounts {
    fn add(&mut self, s: Option<Sentiment>) {
        let slot = match s {
            Some(Sentiment::Negative) => &mut self.negative,
            Some(Sentiment::Neutral) => &mut self.neutral,
            Some(Sentiment::Positive) => &mut self.positive,
            None => &mut self.unknown,
        };
        *slot += 1;
    }

    fn plus(self, o: Self) -> Self {
        Self {
            negative: self.negative + o.negative,
            neutral: self.neutral + o.neutral,
            positive: self.positive + o.positive,
            unknown: self.unknown + o.unknown,
        }
    }
}

/// One local day of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayFigures {
    pub day: Day,
    /// Comments received that day.
    pub volume: u32,
    /// Every platform of [`Report::platforms`], 0 included.
    pub by_platform: BTreeMap<Platform, u32>,
    pub sentiment: SentimentCounts,
    /// Comments the urgency escalated.
    pub urgent: u32,
    /// Comments received that day that missed their response time.
    pub sla_breaches: u32,
    /// Its negatives are a [`Spike`] (listed in [`Report::spikes`]).
    pub spike: bool,
}

impl DayFigures {
    fn empty(day: Day) -> Self {
        Self {
            day,
            volume: 0,
            by_platform: BTreeMap::new(),
            sentiment: SentimentCounts::default(),
            urgent: 0,
            sla_breaches: 0,
            spike: false,
        }
    }
}

/// How often an intent came up over the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentCount {
    pub intent: Intent,
    pub count: u32,
}

/// The figures of the whole period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub volume: u32,
    pub by_platform: BTreeMap<Platform, u32>,
    pub sentiment: SentimentCounts,
    pub urgent: u32,
    pub sla_breaches: u32,
    /// Comments per review status (statuses with none left out).
    pub by_status: BTreeMap<ReviewStatus, u32>,
    /// Comments a reply was sent to.
    pub replied: u32,
    /// Median minutes from receipt to the first reply, over the replied comments (the mean
    /// of the middle two for an even count); `None` when none was replied to.
    pub median_minutes_to_first_response: Option<f64>,
    /// Of the replies sent, the share sent as vigie drafted them (not edited), 0 to 1;
    /// `None` when none was sent.
    pub sent_unedited_share: Option<f64>,
    /// The [`TOP_INTENTS`] most frequent intents, most frequent first; ties in
    /// [`Intent`] order.
    pub top_intents: Vec<IntentCount>,
}

/// A day whose negative comments are far above the brand's rolling baseline: at least
/// `max(b + 3s, 2b, 5)` negatives, where `b` is the median negative count of the 14 days
/// before and `s = max(1.4826 × MAD, √b, 1)` (the module documentation says why).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spike {
    pub day: Day,
    /// Negative comments received that day.
    pub negatives: u32,
    /// The median negative count of the days before: what is usual.
    pub baseline: f64,
    /// The fewest negatives that would have made the day a spike.
    pub threshold: u32,
}

/// What a brand's comments added up to over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub period: Period,
    /// The `now` the SLA breaches were judged at.
    pub generated_at: Timestamp,
    /// Platforms with comments in the period, in [`Platform::ALL`] order.
    pub platforms: Vec<Platform>,
    /// Every day of the period, in order.
    pub days: Vec<DayFigures>,
    pub totals: Totals,
    /// In day order.
    pub spikes: Vec<Spike>,
}

impl Report {
    /// The report of one brand's facts over `period`, SLAs judged at `now`. Facts received
    /// in the [`HISTORY_DAYS`] days before the period count only towards the spike baseline
    /// of its first days; facts outside [`Period::window`] are not counted.
    pub fn build(facts: &[ReportFact], period: Period, now: Timestamp) -> Report {
        let offset = period.utc_offset_minutes;
        let first = period.from.epoch_day();
        let last = period.to.epoch_day();
        let history_start = first - HISTORY_DAYS;
        // negative counts from the first history day on; the index of the first day with
        // any fact (earlier days are no history)
        let mut negatives = vec![0u32; (last - history_start + 1) as usize];
        let mut data_from: Option<usize> = None;
        let mut days: Vec<DayFigures> = (first..=last)
            .map(|n| DayFigures::empty(Day::from_epoch_day(n)))
            .collect();
        let mut by_status: BTreeMap<ReviewStatus, u32> = BTreeMap::new();
        let mut intents: BTreeMap<Intent, u32> = BTreeMap::new();
        let mut response_minutes = Vec::new();
        let mut unedited = 0u32;

        for f in facts {
            let n = local_epoch_day(f.received_at, offset);
            if !(history_start..=last).contains(&n) {
                continue;
            }
            let i = (n - history_start) as usize;
            data_from = Some(data_from.map_or(i, |d| d.min(i)));
            if f.sentiment == Some(Sentiment::Negative) {
                negatives[i] += 1;
            }
            if n < first {
                continue;
            }
            let day = &mut days[(n - first) as usize];
            day.volume += 1;
            *day.by_platform.entry(f.platform).or_default() += 1;
            day.sentiment.add(f.sentiment);
            day.urgent += u32::from(f.urgent);
            day.sla_breaches += u32::from(f.sla_breached(now));
            *by_status.entry(f.status).or_default() += 1;
            if let Some(intent) = f.intent {
                *intents.entry(intent).or_default() += 1;
            }
            if let Some(minutes) = f.minutes_to_first_response() {
                response_minutes.push(minutes);
                unedited += u32::from(f.first_response.is_some_and(|r| !r.ai_edited));
            }
        }

        let mut totals = Totals {
            by_status,
            ..Totals::default()
        };
        let mut spikes = Vec::new();
        for (k, day) in days.iter_mut().enumerate() {
            let i = k + HISTORY_DAYS as usize;
            let history = match data_from {
                Some(d) if d < i => &negatives[d.max(i - HISTORY_DAYS as usize)..i],
                _ => &[][..],
            };
            if let Some((baseline, threshold)) = spike_rule(history)
                && negatives[i] >= threshold
            {
                day.spike = true;
                spikes.push(Spike {
                    day: day.day,
                    negatives: negatives[i],
                    baseline,
                    threshold,
                });
            }
            totals.volume += day.volume;
            totals.sentiment = totals.sentiment.plus(day.sentiment);
            totals.urgent += day.urgent;
            totals.sla_breaches += day.sla_breaches;
            for (p, count) in &day.by_platform {
                *totals.by_platform.entry(*p).or_default() += count;
            }
        }
        let platforms: Vec<Platform> = totals.by_platform.keys().copied().collect();
        for day in &mut days {
            for p in &platforms {
                day.by_platform.entry(*p).or_default();
            }
        }

        totals.replied = response_minutes.len() as u32;
        totals.median_minutes_to_first_response = median(&mut response_minutes);
        totals.sent_unedited_share =
            (totals.replied > 0).then(|| f64::from(unedited) / f64::from(totals.replied));
        let mut top: Vec<IntentCount> = intents
            .into_iter()
            .map(|(intent, count)| IntentCount { intent, count })
            .collect();
        top.sort_by(|a, b| b.count.cmp(&a.count).then(a.intent.cmp(&b.intent)));
        top.truncate(TOP_INTENTS);
        totals.top_intents = top;

        Report {
            period,
            generated_at: now,
            platforms,
            days,
            totals,
            spikes,
        }
    }

    /// One row per day after a header: `day`, one `volume_<platform>` column per platform
    /// of [`Report::platforms`], `negative`, `neutral`, `positive`, `unknown`, `urgent`,
    /// `sla_breaches`, `spike` (0 or 1). RFC 4180: fields quoted when they need it, lines
    /// ended by CRLF.
    pub fn to_csv(&self) -> String {
        let mut header = vec!["day".to_owned()];
        header.extend(self.platforms.iter().map(|p| format!("volume_{p}")));
        header.extend(
            [
                "negative",
                "neutral",
                "positive",
                "unknown",
                "urgent",
                "sla_breaches",
                "spike",
            ]
            .map(String::from),
        );
        let rows = self.days.iter().map(|d| {
            let mut row = vec![d.day.to_string()];
            row.extend(
                self.platforms
                    .iter()
                    .map(|p| d.by_platform.get(p).copied().unwrap_or(0).to_string()),
            );
            let s = d.sentiment;
            row.extend(
                [
                    s.negative,
                    s.neutral,
                    s.positive,
                    s.unknown,
                    d.urgent,
                    d.sla_breaches,
                    u32::from(d.spike),
                ]
                .map(|x| x.to_string()),
            );
            row
        });
        csv_table(std::iter::once(header).chain(rows))
    }
}

/// Rows of equal length as RFC 4180 CSV.
fn csv_table(rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        w.write_record(&row)
            .expect("rows of equal length write to memory");
    }
    let bytes = w.into_inner().expect("writing to memory does not fail");
    String::from_utf8(bytes).expect("the cells are UTF-8")
}

/// The baseline of a history of daily negative counts, and the fewest negatives that make
/// the next day a spike; `None` with fewer than [`MIN_HISTORY_DAYS`] days.
fn spike_rule(history: &[u32]) -> Option<(f64, u32)> {
    if history.len() < MIN_HISTORY_DAYS {
        return None;
    }
    let mut counts: Vec<f64> = history.iter().map(|&n| f64::from(n)).collect();
    let baseline = median(&mut counts)?;
    let mut deviations: Vec<f64> = counts.iter().map(|n| (n - baseline).abs()).collect();
    let mad = median(&mut deviations)?;
    let spread = (MAD_TO_SD * mad).max(baseline.sqrt()).max(1.0);
    let threshold = (baseline + SPIKE_SPREADS * spread)
        .max(SPIKE_RATIO * baseline)
        .max(f64::from(SPIKE_MIN_NEGATIVES));
    // the fewest whole negatives at or above it (a hair below a whole number is that number)
    Some((baseline, (threshold - 1e-9).ceil() as u32))
}

/// The middle value, or the mean of the middle two; `None` for no values.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::{Author, CommentKey, CommentState, CommentText, SentimentScore, Triage};
    use crate::review::Sent;
    use crate::understanding::Understanding;
    use crate::urgency::Urgency;

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn period(from: &str, to: &str, offset: i32) -> Period {
        Period::new(day(from), day(to), offset).unwrap()
    }

    fn fact(platform: Platform, received: &str, sentiment: Option<Sentiment>) -> ReportFact {
        ReportFact {
            brand: BrandId::parse("acme").unwrap(),
            platform,
            received_at: at(received),
            sentiment,
            intent: None,
            urgent: false,
            sla_due: None,
            first_response: None,
            status: ReviewStatus::New,
        }
    }

    fn neg(platform: Platform, received: &str) -> ReportFact {
        fact(platform, received, Some(Sentiment::Negative))
    }

    /// A fact received at `received` with a reply `minutes` later.
    fn replied(received: &str, minutes: i64, ai_edited: bool) -> ReportFact {
        let mut f = fact(Platform::Facebook, received, Some(Sentiment::Neutral));
        f.first_response = Some(FirstResponse {
            at: f.received_at.plus_millis(minutes * MINUTE_MS),
            ai_edited,
        });
        f.status = ReviewStatus::Replied;
        f
    }

    const FB: Platform = Platform::Facebook;
    const IG: Platform = Platform::Instagram;

    fn comment(urgency: Urgency) -> Comment {
        Comment {
            key: CommentKey::new(BrandId::parse("acme").unwrap(), IG, "c1").unwrap(),
            thread_id: "t".into(),
            parent_id: None,
            source: None,
            author: Author {
                id: "a".into(),
                name: None,
                followers: None,
            },
            text: Some(CommentText::parse("toujours pas remboursé").unwrap()),
            attachment: None,
            truncation: None,
            permalink: None,
            created_at: at("2026-03-01T09:58:00Z"),
            received_at: at("2026-03-01T10:00:00Z"),
            version: 1,
            state: CommentState::Triaged,
            triage: Some(Triage {
                version: 1,
                sentiment: Some(SentimentScore {
                    label: Sentiment::Negative,
                    negative: 0.9,
                    neutral: 0.08,
                    positive: 0.02,
                    model: "test".into(),
                }),
                understanding: Some(Understanding {
                    intent: Intent::RefundRequest,
                    intent_probability: 0.8,
                    signals: vec![],
                    model: "heads-test".into(),
                }),
                embedding: None,
                urgency,
                triaged_at: at("2026-03-01T10:00:01Z"),
            }),
            escalated_version: None,
            private: false,
            revision: 2,
        }
    }

    fn urgency(tier: Option<(&str, u32)>) -> Urgency {
        Urgency {
            score: if tier.is_some() { 80 } else { 10 },
            escalate: tier.is_some(),
            tier: tier.map(|(name, _)| name.into()),
            respond_within_minutes: tier.map(|(_, m)| m),
            reasons: vec![],
        }
    }

    fn review_of(c: &Comment, sent: Option<Sent>) -> Review {
        Review {
            key: c.key.clone(),
            comment_version: 1,
            content_version: 3,
            status: if sent.is_some() {
                ReviewStatus::Replied
            } else {
                ReviewStatus::InProgress
            },
            claim: None,
            suggestions: vec![],
            sent,
            drafts_generation: 0,
            revision: 4,
            updated_at: at("2026-03-01T10:20:00Z"),
        }
    }

    #[test]
    fn a_triaged_comment_and_its_review_give_the_flat_facts() {
        let c = comment(urgency(Some(("P1", 15))));
        let sent = Sent {
            text: "Bonjour, c'est en cours.".into(),
            platform_reply_id: "r1".into(),
            by: "alice".into(),
            at: at("2026-03-01T10:20:00Z"),
            ai_edited: true,
        };
        let r = review_of(&c, Some(sent));
        let f = ReportFact::of(&c, Some(&r)).unwrap();
        assert_eq!(
            f,
            ReportFact {
                brand: BrandId::parse("acme").unwrap(),
                platform: IG,
                received_at: at("2026-03-01T10:00:00Z"),
                sentiment: Some(Sentiment::Negative),
                intent: Some(Intent::RefundRequest),
                urgent: true,
                sla_due: Some(at("2026-03-01T10:15:00Z")),
                first_response: Some(FirstResponse {
                    at: at("2026-03-01T10:20:00Z"),
                    ai_edited: true
                }),
                status: ReviewStatus::Replied,
            }
        );
        assert!(f.sla_breached(at("2026-03-01T10:21:00Z")));

        // no review yet: new, no reply; no tier: no response time
        let calm = comment(urgency(None));
        let f = ReportFact::of(&calm, None).unwrap();
        assert_eq!(
            (f.status, f.first_response, f.sla_due, f.urgent),
            (ReviewStatus::New, None, None, false)
        );
        let open = ReportFact::of(&c, Some(&review_of(&c, None))).unwrap();
        assert_eq!(
            (open.status, open.first_response),
            (ReviewStatus::InProgress, None)
        );

        // another comment's review is not this one's
        let mut other = r.clone();
        other.key = CommentKey::new(c.key.brand.clone(), IG, "c2").unwrap();
        let f = ReportFact::of(&c, Some(&other)).unwrap();
        assert_eq!((f.status, f.first_response), (ReviewStatus::New, None));

        // not triaged yet, or a photo without text
        let mut queued = c.clone();
        (queued.state, queued.triage) = (CommentState::Queued, None);
        assert_eq!(ReportFact::of(&queued, Some(&r)), None);
        let mut photo = c.clone();
        let t = photo.triage.as_mut().unwrap();
        (t.sentiment, t.understanding) = (None, None);
        let f = ReportFact::of(&photo, None).unwrap();
        assert_eq!((f.sentiment, f.intent), (None, None));
    }

    #[test]
    fn days_are_written_and_read_as_yyyy_mm_dd() {
        let d = day("2026-03-01");
        assert_eq!(d.to_string(), "2026-03-01");
        assert_eq!(
            "2024-02-29".parse::<Day>().unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(Day::from_ymd(7, 1, 9).unwrap().to_string(), "0007-01-09");
        assert_eq!(serde_json::to_value(d).unwrap(), "2026-03-01");
        assert_eq!(serde_json::from_str::<Day>("\"2026-03-01\"").unwrap(), d);
        for bad in [
            "2026-3-01",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026/03/01",
            "+2026-03-1",
            "2026-03-01T00:00",
            "",
            "٢٠٢٦-03-01",
        ] {
            assert_eq!(
                Day::parse(bad),
                Err(ReportError::Day(bad.into())),
                "{bad:?}"
            );
        }
        assert!(Day::from_ymd(10_000, 1, 1).is_err());
        assert!(serde_json::from_str::<Day>("\"2026-02-30\"").is_err());
        assert!(day("2026-03-01") < day("2026-03-02"));
    }

    #[test]
    fn a_day_starts_at_local_midnight() {
        // +60: 23:30 UTC is already the next day; -300: 03:00 UTC is still the day before
        assert_eq!(Day::of(at("2026-03-01T23:30:00Z"), 60), day("2026-03-02"));
        assert_eq!(
            Day::of(at("2026-03-01T22:59:59.999Z"), 60),
            day("2026-03-01")
        );
        assert_eq!(Day::of(at("2026-03-02T03:00:00Z"), -300), day("2026-03-01"));
        assert_eq!(Day::of(at("2026-03-01T23:30:00Z"), 0), day("2026-03-01"));
        assert_eq!(day("2026-03-02").start(60), at("2026-03-01T23:00:00Z"));
        assert_eq!(day("2026-03-02").start(-300), at("2026-03-02T05:00:00Z"));
        assert_eq!(Day::of(Timestamp(i64::MIN), 0), Day::MIN);
        assert_eq!(Day::of(Timestamp::MAX, 840), Day::MAX);
        assert_eq!(Day::of(Timestamp(-1), 0), day("1969-12-31"));

        let p = period("2026-03-01", "2026-03-07", 60);
        assert_eq!(
            p.window(),
            at("2026-02-14T23:00:00Z")..at("2026-03-07T23:00:00Z")
        );
    }

    #[test]
    fn comments_count_on_the_brands_local_day() {
        let p = period("2026-03-01", "2026-03-02", 60);
        let facts = [
            neg(FB, "2026-03-01T23:30:00Z"),     // 00:30 on the 2nd in Paris
            neg(FB, "2026-03-01T22:59:00Z"),     // 23:59 on the 1st
            neg(FB, "2026-02-28T23:00:00Z"),     // 00:00 on the 1st
            neg(FB, "2026-03-02T23:00:00Z"),     // the 3rd: after the period
            neg(FB, "2026-02-28T22:59:59.999Z"), // the 28th: before the period
        ];
        let r = Report::build(&facts, p, at("2026-03-05T00:00:00Z"));
        let volumes: Vec<u32> = r.days.iter().map(|d| d.volume).collect();
        assert_eq!(volumes, [2, 1]);
        assert_eq!(r.totals.volume, 3);
        // and at -300 the first two are on the 1st
        let p = period("2026-03-01", "2026-03-02", -300);
        let r = Report::build(&facts[..2], p, at("2026-03-05T00:00:00Z"));
        assert_eq!(r.days[0].volume, 2);
    }

    #[test]
    fn every_day_of_the_period_is_there_zero_filled() {
        let p = period("2026-02-26", "2026-03-03", 0);
        let facts = [
            neg(FB, "2026-02-27T10:00:00Z"),
            fact(IG, "2026-03-02T10:00:00Z", None),
        ];
        let r = Report::build(&facts, p, at("2026-03-04T00:00:00Z"));
        let days: Vec<String> = r.days.iter().map(|d| d.day.to_string()).collect();
        assert_eq!(
            days,
            [
                "2026-02-26",
                "2026-02-27",
                "2026-02-28",
                "2026-03-01",
                "2026-03-02",
                "2026-03-03"
            ]
        );
        assert_eq!(r.platforms, [FB, IG]);
        let empty = &r.days[0];
        assert_eq!(empty.volume, 0);
        assert_eq!(empty.by_platform, BTreeMap::from([(FB, 0), (IG, 0)]));
        assert_eq!(empty.sentiment, SentimentCounts::default());
        assert_eq!(
            (empty.urgent, empty.sla_breaches, empty.spike),
            (0, 0, false)
        );
        assert_eq!(r.days[1].by_platform, BTreeMap::from([(FB, 1), (IG, 0)]));
        assert_eq!(r.days[4].by_platform, BTreeMap::from([(FB, 0), (IG, 1)]));
        assert_eq!(r.days[4].sentiment.unknown, 1);

        let none = Report::build(&[], p, at("2026-03-04T00:00:00Z"));
        assert_eq!(none.days.len(), 6);
        assert!(none.platforms.is_empty() && none.days[0].by_platform.is_empty());
        assert_eq!(none.totals, Totals::default());
    }

    #[test]
    fn each_figure_counts_by_hand() {
        let p = period("2026-03-01", "2026-03-02", 0);
        let mut urgent_fb = neg(FB, "2026-03-01T08:00:00Z");
        urgent_fb.urgent = true;
        urgent_fb.intent = Some(Intent::RefundRequest);
        urgent_fb.status = ReviewStatus::Escalated;
        let mut praise = fact(IG, "2026-03-01T09:00:00Z", Some(Sentiment::Positive));
        praise.intent = Some(Intent::Praise);
        let photo = fact(FB, "2026-03-01T10:00:00Z", None);
        let mut question = fact(IG, "2026-03-02T11:00:00Z", Some(Sentiment::Neutral));
        question.intent = Some(Intent::RefundRequest);
        question.status = ReviewStatus::Ignored;
        let mut angry = neg(IG, "2026-03-02T12:00:00Z");
        angry.urgent = true;
        angry.intent = Some(Intent::ComplaintAngry);
        let facts = [urgent_fb, praise, photo, question, angry];
        let r = Report::build(&facts, p, at("2026-03-03T00:00:00Z"));

        let d1 = &r.days[0];
        assert_eq!(d1.volume, 3);
        assert_eq!(d1.by_platform, BTreeMap::from([(FB, 2), (IG, 1)]));
        assert_eq!(
            d1.sentiment,
            SentimentCounts {
                negative: 1,
                neutral: 0,
                positive: 1,
                unknown: 1
            }
        );
        assert_eq!(d1.urgent, 1);
        let d2 = &r.days[1];
        assert_eq!(d2.volume, 2);
        assert_eq!(d2.by_platform, BTreeMap::from([(FB, 0), (IG, 2)]));
        assert_eq!(
            d2.sentiment,
            SentimentCounts {
                negative: 1,
                neutral: 1,
                positive: 0,
                unknown: 0
            }
        );
        assert_eq!(d2.urgent, 1);

        let t = &r.totals;
        assert_eq!(t.volume, 5);
        assert_eq!(t.by_platform, BTreeMap::from([(FB, 2), (IG, 3)]));
        assert_eq!(
            t.sentiment,
            SentimentCounts {
                negative: 2,
                neutral: 1,
                positive: 1,
                unknown: 1
            }
        );
        assert_eq!(t.urgent, 2);
        assert_eq!(
            t.by_status,
            BTreeMap::from([
                (ReviewStatus::New, 3),
                (ReviewStatus::Ignored, 1),
                (ReviewStatus::Escalated, 1)
            ])
        );
        assert_eq!(
            t.top_intents,
            [
                IntentCount {
                    intent: Intent::RefundRequest,
                    count: 2
                },
                IntentCount {
                    intent: Intent::ComplaintAngry,
                    count: 1
                },
                IntentCount {
                    intent: Intent::Praise,
                    count: 1
                },
            ]
        );
        assert_eq!(
            (
                t.replied,
                t.median_minutes_to_first_response,
                t.sent_unedited_share
            ),
            (0, None, None)
        );
        assert!(r.spikes.is_empty());
        assert_eq!(r.generated_at, at("2026-03-03T00:00:00Z"));
    }

    #[test]
    fn the_median_time_to_first_response_is_over_replied_comments() {
        let p = period("2026-03-01", "2026-03-01", 0);
        let now = at("2026-03-02T00:00:00Z");
        let odd = [
            replied("2026-03-01T08:00:00Z", 30, false),
            replied("2026-03-01T09:00:00Z", 5, false),
            replied("2026-03-01T10:00:00Z", 240, false),
            fact(FB, "2026-03-01T11:00:00Z", None), // not replied: not counted
        ];
        let r = Report::build(&odd, p, now);
        assert_eq!(r.totals.replied, 3);
        assert_eq!(r.totals.median_minutes_to_first_response, Some(30.0));

        let even = [
            replied("2026-03-01T08:00:00Z", 30, false),
            replied("2026-03-01T09:00:00Z", 5, false),
            replied("2026-03-01T10:00:00Z", 240, false),
            replied("2026-03-01T11:00:00Z", 45, false),
        ];
        let r = Report::build(&even, p, now);
        assert_eq!(r.totals.median_minutes_to_first_response, Some(37.5));

        // seconds count; a reply stamped before receipt counts as 0
        let mut quick = replied("2026-03-01T08:00:00Z", 0, false);
        quick.first_response.as_mut().unwrap().at = at("2026-03-01T08:01:30Z");
        let early = replied("2026-03-01T09:00:00Z", -3, false);
        let r = Report::build(&[quick, early], p, now);
        assert_eq!(r.totals.median_minutes_to_first_response, Some(0.75));

        // a reply to a comment received before the period is not the period's
        let before = [replied("2026-02-28T08:00:00Z", 10, false)];
        assert_eq!(
            Report::build(&before, p, now)
                .totals
                .median_minutes_to_first_response,
            None
        );
    }

    #[test]
    fn the_unedited_share_is_over_the_replies_sent() {
        let p = period("2026-03-01", "2026-03-01", 0);
        let now = at("2026-03-02T00:00:00Z");
        let facts = [
            replied("2026-03-01T08:00:00Z", 10, false),
            replied("2026-03-01T09:00:00Z", 10, true),
            replied("2026-03-01T10:00:00Z", 10, false),
            replied("2026-03-01T11:00:00Z", 10, false),
            fact(FB, "2026-03-01T12:00:00Z", None), // not sent: not counted
        ];
        let r = Report::build(&facts, p, now);
        assert_eq!(r.totals.sent_unedited_share, Some(0.75));
        let edited = [replied("2026-03-01T09:00:00Z", 10, true)];
        assert_eq!(
            Report::build(&edited, p, now).totals.sent_unedited_share,
            Some(0.0)
        );
        let unsent = [fact(FB, "2026-03-01T12:00:00Z", None)];
        assert_eq!(
            Report::build(&unsent, p, now).totals.sent_unedited_share,
            None
        );
    }

    #[test]
    fn an_sla_is_breached_by_a_late_reply_or_by_none_past_due() {
        let p = period("2026-03-01", "2026-03-02", 0);
        let now = at("2026-03-02T12:00:00Z");
        let due = |mut f: ReportFact, minutes: i64| {
            f.urgent = true;
            f.sla_due = Some(f.received_at.plus_millis(minutes * MINUTE_MS));
            f
        };
        let late = due(replied("2026-03-01T08:00:00Z", 20, false), 15);
        let in_time = due(replied("2026-03-01T09:00:00Z", 10, false), 15);
        let on_the_dot = due(replied("2026-03-01T10:00:00Z", 15, false), 15);
        let unanswered = due(neg(FB, "2026-03-01T11:00:00Z"), 60);
        let not_yet_due = due(neg(FB, "2026-03-02T11:30:00Z"), 60);
        let due_now = due(neg(FB, "2026-03-02T11:00:00Z"), 60);
        let no_tier = neg(FB, "2026-03-01T12:00:00Z");
        assert!(late.sla_breached(now) && unanswered.sla_breached(now));
        for f in [&in_time, &on_the_dot, &not_yet_due, &due_now, &no_tier] {
            assert!(!f.sla_breached(now), "{f:?}");
        }
        // and breached once past due
        assert!(not_yet_due.sla_breached(at("2026-03-02T12:30:00.001Z")));
        assert!(!no_tier.sla_breached(Timestamp::MAX));
        for status in [
            ReviewStatus::Hidden,
            ReviewStatus::Ignored,
            ReviewStatus::Withdrawn,
        ] {
            let set_aside = ReportFact {
                status,
                ..unanswered.clone()
            };
            assert!(!set_aside.sla_breached(now), "no reply owed when {status}");
        }

        let facts = [
            late,
            in_time,
            on_the_dot,
            unanswered,
            not_yet_due,
            due_now,
            no_tier,
        ];
        let r = Report::build(&facts, p, now);
        assert_eq!(
            r.days.iter().map(|d| d.sla_breaches).collect::<Vec<_>>(),
            [2, 0]
        );
        assert_eq!(r.totals.sla_breaches, 2);
        assert_eq!(r.totals.urgent, 6);
        // later, the two unanswered of the 2nd are past due too
        let r = Report::build(&facts, p, at("2026-03-03T00:00:00Z"));
        assert_eq!(r.totals.sla_breaches, 4);
    }

    #[test]
    fn top_intents_are_the_ten_most_frequent() {
        let p = period("2026-03-01", "2026-03-01", 0);
        let mut facts = Vec::new();
        // the first 12 intents: intent k comes up k % 4 + 1 times
        for (k, intent) in Intent::ALL.iter().take(12).enumerate() {
            for _ in 0..k % 4 + 1 {
                let mut f = fact(FB, "2026-03-01T10:00:00Z", None);
                f.intent = Some(*intent);
                facts.push(f);
            }
        }
        let r = Report::build(&facts, p, at("2026-03-02T00:00:00Z"));
        let top: Vec<(Intent, u32)> = r
            .totals
            .top_intents
            .iter()
            .map(|c| (c.intent, c.count))
            .collect();
        let i = |k: usize| Intent::ALL[k];
        assert_eq!(
            top,
            [
                (i(3), 4),
                (i(7), 4),
                (i(11), 4),
                (i(2), 3),
                (i(6), 3),
                (i(10), 3),
                (i(1), 2),
                (i(5), 2),
                (i(9), 2),
                (i(0), 1),
            ]
        );
    }

    /// Facts of daily negative counts: day k of `counts` is 2026-01-01 + `first` + k, with
    /// one positive comment a day besides (so that a day without negatives still has data).
    fn daily(counts: &[u32], first: usize) -> Vec<ReportFact> {
        let start = day("2026-01-01").start(0);
        let mut facts = Vec::new();
        for (k, &n) in counts.iter().enumerate() {
            let mut f = fact(FB, "2026-01-01T12:00:00Z", Some(Sentiment::Positive));
            f.received_at = start.plus_millis((first + k) as i64 * DAY_MS + DAY_MS / 2);
            facts.push(f.clone());
            f.sentiment = Some(Sentiment::Negative);
            facts.extend(std::iter::repeat_n(f, n as usize));
        }
        facts
    }

    /// The report of days `from` to `to` (counted from 2026-01-01, `to` excluded).
    fn days_report(facts: &[ReportFact], from: usize, to: usize) -> Report {
        let start = day("2026-01-01").epoch_day();
        let p = Period::new(
            Day::from_epoch_day(start + from as i64),
            Day::from_epoch_day(start + to as i64 - 1),
            0,
        )
        .unwrap();
        Report::build(facts, p, Timestamp::MAX)
    }

    /// The report of a series of daily negative counts whose first `history` days come
    /// before the period.
    fn series(counts: &[u32], history: usize) -> Report {
        days_report(&daily(counts, 0), history, counts.len())
    }

    /// Days of the period flagged, as indexes into the series.
    fn flagged(r: &Report, history: usize) -> Vec<usize> {
        r.days
            .iter()
            .enumerate()
            .filter(|(_, d)| d.spike)
            .map(|(k, _)| k + history)
            .collect()
    }

    /// Deterministic noise: `base` ± `spread`.
    fn noisy(days: usize, base: u32, spread: u32, seed: u64) -> Vec<u32> {
        let mut x = seed;
        (0..days)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let r = ((x >> 33) % u64::from(2 * spread + 1)) as u32;
                base - spread + r
            })
            .collect()
    }

    #[test]
    fn a_flat_series_with_noise_has_no_spike() {
        for (base, spread, seed) in [(4, 2, 1), (10, 4, 2), (30, 8, 3), (2, 2, 4)] {
            let counts = noisy(14 + 120, base, spread, seed);
            let r = series(&counts, 14);
            assert!(r.spikes.is_empty(), "{base}±{spread}: {:?}", r.spikes);
        }
    }

    #[test]
    fn a_jump_flags_that_day_only() {
        // usually 3, 4, 5, 4: baseline 4, MAD 0.5, spread max(0.74, √4, 1) = 2,
        // threshold max(4 + 3 × 2, 2 × 4, 5) = 10
        let mut counts: Vec<u32> = [3, 4, 5, 4].into_iter().cycle().take(14 + 40).collect();
        counts[30] = 12;
        let r = series(&counts, 14);
        assert_eq!(flagged(&r, 14), [30]);
        assert_eq!(
            r.spikes,
            [Spike {
                day: day("2026-01-31"),
                negatives: 12,
                baseline: 4.0,
                threshold: 10
            }]
        );
        // exactly from the threshold on
        counts[30] = 10;
        assert_eq!(flagged(&series(&counts, 14), 14), [30]);
        counts[30] = 9;
        assert!(series(&counts, 14).spikes.is_empty());
        // two bad days running: the second is still judged against the usual days
        counts[30] = 12;
        counts[31] = 11;
        assert_eq!(flagged(&series(&counts, 14), 14), [30, 31]);
    }

    #[test]
    fn a_slow_ramp_is_not_flagged_day_after_day() {
        for step in [1, 2, 3] {
            let counts: Vec<u32> = (0..14 + 60).map(|k| 2 + step * k).collect();
            let r = series(&counts, 14);
            assert!(r.spikes.is_empty(), "+{step} a day: {:?}", r.spikes);
        }
        // a ramp on a noisy series does not flag every day either
        let counts: Vec<u32> = noisy(14 + 60, 3, 2, 7)
            .into_iter()
            .enumerate()
            .map(|(k, n)| n + k as u32 / 3)
            .collect();
        let r = series(&counts, 14);
        assert!(r.spikes.is_empty(), "{:?}", r.spikes);
    }

    #[test]
    fn a_tiny_brand_needs_five_negatives() {
        let mut counts: Vec<u32> = [0, 1, 0, 0, 1, 0, 1]
            .into_iter()
            .cycle()
            .take(14 + 30)
            .collect();
        counts[20] = 2;
        counts[25] = 4;
        let r = series(&counts, 14);
        assert!(r.spikes.is_empty(), "{:?}", r.spikes);
        counts[25] = 5;
        let r = series(&counts, 14);
        assert_eq!(flagged(&r, 14), [25]);
        assert_eq!((r.spikes[0].baseline, r.spikes[0].threshold), (0.0, 5));
        // a brand with no negatives at all: a spread of 1, the minimum still holds
        let mut silent = vec![0; 14 + 10];
        silent[18] = 4;
        assert!(series(&silent, 14).spikes.is_empty());
    }

    #[test]
    fn the_first_days_without_history_are_not_flagged() {
        // the brand's first comments are in the period: a week is needed before any flag
        let mut counts = vec![3, 9, 4, 12, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4];
        let r = series(&counts, 0);
        assert!(r.spikes.is_empty(), "{:?}", r.spikes);
        // once a week of history is there, a jump counts
        counts[10] = 15;
        assert_eq!(flagged(&series(&counts, 0), 0), [10]);
        // an empty stretch before the first fact is no history either
        let mut r = days_report(&daily(&[2, 2, 9, 2], 14), 14, 18);
        assert_eq!(r.days[2].sentiment.negative, 9);
        assert!(r.spikes.is_empty(), "{:?}", r.spikes);
        // but the history passed before the period counts for its first day
        let mut counts = vec![2; 14 + 5];
        counts[14] = 9;
        r = series(&counts, 14);
        assert_eq!(flagged(&r, 14), [14]);
        assert_eq!(r.spikes[0].day, day("2026-01-15"));
        assert_eq!((r.spikes[0].baseline, r.spikes[0].threshold), (2.0, 7));
        // history facts are not counted as the period's
        assert_eq!(r.totals.volume, 9 + 1 + 4 * 3);
    }

    #[test]
    fn the_spike_rule_on_its_own() {
        assert_eq!(spike_rule(&[3; 6]), None);
        // flat at 9: spread √9 = 3, threshold max(9 + 9, 18, 5) = 18
        assert_eq!(spike_rule(&[9; 7]), Some((9.0, 18)));
        // flat at 1: spread 1, threshold max(4, 2, 5) = 5
        assert_eq!(spike_rule(&[1; 14]), Some((1.0, 5)));
        // noisy around 20: MAD 5, spread 7.413, threshold 20 + 22.239 = 42.239
        let h = [15, 25, 20, 15, 25, 20, 15, 25, 20, 15, 25, 20, 15, 25];
        assert_eq!(spike_rule(&h), Some((20.0, 43)));
        // one odd day in the history does not move the baseline
        let mut h = [4; 14];
        h[3] = 40;
        assert_eq!(spike_rule(&h), Some((4.0, 10)));
    }

    #[test]
    fn the_csv_has_a_header_and_a_row_per_day() {
        let p = period("2026-03-01", "2026-03-03", 0);
        let mut urgent = neg(IG, "2026-03-01T08:00:00Z");
        urgent.urgent = true;
        urgent.sla_due = Some(at("2026-03-01T08:15:00Z"));
        let facts = [
            urgent,
            fact(FB, "2026-03-01T09:00:00Z", Some(Sentiment::Positive)),
            fact(Platform::Generic, "2026-03-03T09:00:00Z", None),
        ];
        let csv = Report::build(&facts, p, at("2026-03-04T00:00:00Z")).to_csv();
        assert_eq!(
            csv,
            "day,volume_facebook,volume_instagram,volume_generic,negative,neutral,positive,unknown,urgent,sla_breaches,spike\r\n\
             2026-03-01,1,1,0,1,0,1,0,1,1,0\r\n\
             2026-03-02,0,0,0,0,0,0,0,0,0,0\r\n\
             2026-03-03,0,0,1,0,0,0,1,0,0,0\r\n"
        );
        let empty = Report::build(&[], p, at("2026-03-04T00:00:00Z")).to_csv();
        assert_eq!(
            empty.lines().next(),
            Some("day,negative,neutral,positive,unknown,urgent,sla_breaches,spike")
        );
        assert_eq!(empty.lines().count(), 4);

        let mut counts = vec![2; 14 + 2];
        counts[15] = 9;
        let spiked = series(&counts, 14).to_csv();
        assert_eq!(spiked.lines().last(), Some("2026-01-16,10,9,0,1,0,0,0,1"));
    }

    #[test]
    fn csv_cells_are_quoted_as_rfc_4180_says() {
        let rows = vec![
            vec!["plain".into(), "a,b".into(), "say \"hi\"".into()],
            vec!["two\nlines".into(), "".into(), " spaced ".into()],
        ];
        assert_eq!(
            csv_table(rows),
            "plain,\"a,b\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",, spaced \r\n"
        );
    }

    #[test]
    fn a_period_is_checked() {
        let p = period("2024-01-01", "2024-12-31", 60);
        assert_eq!(p.days(), 366);
        assert_eq!(
            (p.from(), p.to(), p.utc_offset_minutes()),
            (day("2024-01-01"), day("2024-12-31"), 60)
        );
        assert_eq!(period("2026-03-01", "2026-03-01", 0).days(), 1);
        let too_long = Period::new(day("2025-01-01"), day("2026-01-02"), 0).unwrap_err();
        assert_eq!(too_long, ReportError::TooLong { days: 367 });
        assert_eq!(
            too_long.to_string(),
            "the period spans 367 days, over the 366-day limit"
        );
        let reversed = Period::new(day("2026-03-02"), day("2026-03-01"), 0).unwrap_err();
        assert_eq!(
            reversed.to_string(),
            "the period ends on 2026-03-01, before it starts on 2026-03-02"
        );
        assert_eq!(
            Period::new(day("2026-03-01"), day("2026-03-02"), -841),
            Err(ReportError::UtcOffset(-841))
        );
        assert!(Period::new(day("2026-03-01"), day("2026-03-02"), 840).is_ok());
        assert!(
            serde_json::from_str::<Period>(
                r#"{"from":"2025-01-01","to":"2026-01-02","utc_offset_minutes":0}"#
            )
            .unwrap_err()
            .to_string()
            .contains("over the 366-day limit")
        );
        let json = r#"{"from":"2026-03-01","to":"2026-03-31","utc_offset_minutes":120}"#;
        let p: Period = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), json);
    }

    #[test]
    fn a_report_serialises_as_json() {
        let p = period("2026-03-01", "2026-03-02", 60);
        let facts = [
            replied("2026-03-01T08:00:00Z", 12, false),
            fact(IG, "2026-03-01T09:00:00Z", None),
        ];
        let r = Report::build(&facts, p, at("2026-03-03T00:00:00Z"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["period"],
            serde_json::json!({"from": "2026-03-01", "to": "2026-03-02", "utc_offset_minutes": 60})
        );
        assert_eq!(
            json["platforms"],
            serde_json::json!(["facebook", "instagram"])
        );
        assert_eq!(
            json["days"][0],
            serde_json::json!({
                "day": "2026-03-01",
                "volume": 2,
                "by_platform": {"facebook": 1, "instagram": 1},
                "sentiment": {"negative": 0, "neutral": 1, "positive": 0, "unknown": 1},
                "urgent": 0,
                "sla_breaches": 0,
                "spike": false
            })
        );
        let t = &json["totals"];
        assert_eq!(t["by_status"], serde_json::json!({"new": 1, "replied": 1}));
        assert_eq!(t["median_minutes_to_first_response"], 12.0);
        assert_eq!(t["sent_unedited_share"], 1.0);
        assert_eq!(t["top_intents"], serde_json::json!([]));
        assert_eq!(json["spikes"], serde_json::json!([]));
        assert_eq!(json["generated_at"], at("2026-03-03T00:00:00Z").millis());
        assert_eq!(serde_json::from_value::<Report>(json).unwrap(), r);
        let spike = Spike {
            day: day("2026-03-01"),
            negatives: 12,
            baseline: 3.5,
            threshold: 9,
        };
        assert_eq!(
            serde_json::to_value(spike).unwrap(),
            serde_json::json!({"day": "2026-03-01", "negatives": 12, "baseline": 3.5, "threshold": 9})
        );
        let f = serde_json::to_value(&facts[0]).unwrap();
        assert_eq!(
            f["first_response"],
            serde_json::json!({"at": facts[0].first_response.unwrap().at.millis(), "ai_edited": false})
        );
        assert_eq!(f["status"], "replied");
    }
}
