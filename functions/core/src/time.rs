//! Instants as milliseconds since the Unix epoch, shown as RFC 3339.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The first instant RFC 3339 can write: `0000-01-01T00:00:00.000Z`.
    pub const MIN: Self = Self(-62_167_219_200_000);
    /// The last instant RFC 3339 can write: `9999-12-31T23:59:59.999Z`.
    pub const MAX: Self = Self(253_402_300_799_999);

    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_millis() as i64)
    }

    pub fn from_unix_seconds(s: i64) -> Self {
        Self(s.saturating_mul(1000))
    }

    /// Unix seconds from outside, `None` beyond what RFC 3339 can write (years 0-9999).
    pub fn checked_unix_seconds(s: i64) -> Option<Self> {
        Some(Self(s.checked_mul(1000)?)).filter(|t| (Self::MIN..=Self::MAX).contains(t))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-25T16:00:00.123Z`; instants beyond years 0-9999
    /// show as the nearest one it can write.
    pub fn rfc3339(self) -> String {
        let ms = self.0.clamp(Self::MIN.0, Self::MAX.0);
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// `None` for text that is not RFC 3339, and for instants that RFC 3339 cannot write
    /// back in UTC (an offset can carry `0000-01-01` before year 0).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        let ms = i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()?;
        Some(Self(ms)).filter(|t| (Self::MIN..=Self::MAX).contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp(1_764_086_400_123);
        assert_eq!(t.rfc3339(), "2025-11-25T16:00:00.123Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2025-11-25T17:00:00+01:00"),
            Some(Timestamp(1_764_086_400_000))
        );
    }

    #[test]
    fn only_instants_rfc3339_can_write_are_accepted() {
        assert_eq!(Timestamp::MIN.rfc3339(), "0000-01-01T00:00:00Z");
        assert_eq!(Timestamp::MAX.rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::parse_rfc3339("0000-01-01T00:00:00+01:00"), None);
        assert_eq!(Timestamp::parse_rfc3339("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(
            Timestamp::parse_rfc3339("0000-01-01T00:00:00-01:00"),
            Some(Timestamp(Timestamp::MIN.0 + 3_600_000))
        );
        assert_eq!(Timestamp(i64::MAX).rfc3339(), Timestamp::MAX.rfc3339());
        assert_eq!(Timestamp(i64::MIN).rfc3339(), Timestamp::MIN.rfc3339());
        assert_eq!(
            Timestamp::checked_unix_seconds(1_764_086_400),
            Some(Timestamp(1_764_086_400_000))
        );
        assert_eq!(Timestamp::checked_unix_seconds(253_402_300_800), None);
        assert_eq!(Timestamp::checked_unix_seconds(i64::MAX), None);
    }
}
