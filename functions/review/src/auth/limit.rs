//! Failed sign-ins, counted per user name and per client address.
//!
//! A sliding window of failure instants per key, rather than `governor`'s keyed limiters:
//! GCRA counts every request it is asked about and cannot be asked whether a key is
//! limited without spending a cell, whereas here only failures count, a success clears the
//! user name's failures (and none of the address's), and the answer to a refused attempt is
//! when the oldest failure leaves the window, in seconds for `Retry-After`. That is a
//! dozen lines over a map, with no timer and no background task.
//!
//! An attempt is counted as a failure before its password is checked and refunded if it
//! succeeds, so that attempts running at the same moment cannot exceed the budget. IPv6
//! clients are counted by their /64, which one host holds as a whole. Each map follows at
//! most `max_tracked` keys: past that, keys with no failure left in the window go first,
//! then the one whose latest failure is oldest.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use vigie_core::time::Timestamp;

use super::config::SignInLimits;

struct Window<K> {
    max: usize,
    window_ms: i64,
    cap: usize,
    failures: HashMap<K, VecDeque<i64>>,
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(max: u32, window_ms: i64, cap: usize) -> Self {
        Self {
            max: max as usize,
            window_ms,
            cap: cap.max(1),
            failures: HashMap::new(),
        }
    }

    /// Seconds until `key` may try again, `None` when it may now.
    fn retry_after(&mut self, key: &K, now: i64) -> Option<u64> {
        let times = self.failures.get_mut(key)?;
        while times.front().is_some_and(|t| t + self.window_ms <= now) {
            times.pop_front();
        }
        if times.is_empty() {
            self.failures.remove(key);
            return None;
        }
        if times.len() < self.max {
            return None;
        }
        let wait_ms = times.front().map_or(0, |t| t + self.window_ms - now);
        Some(u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1))
    }

    fn record(&mut self, key: K, now: i64) {
        if !self.failures.contains_key(&key) && self.failures.len() >= self.cap {
            let window_ms = self.window_ms;
            self.failures
                .retain(|_, times| times.back().is_some_and(|t| t + window_ms > now));
            if self.failures.len() >= self.cap {
                let stalest = self
                    .failures
                    .iter()
                    .min_by_key(|(_, times)| times.back().copied())
                    .map(|(k, _)| k.clone());
                if let Some(stalest) = stalest {
                    self.failures.remove(&stalest);
                }
            }
        }
        self.failures.entry(key).or_default().push_back(now);
    }

    /// Takes back one failure recorded at `at`.
    fn refund(&mut self, key: &K, at: i64) {
        if let Some(times) = self.failures.get_mut(key) {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
            if times.is_empty() {
                self.failures.remove(key);
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.failures.remove(key);
    }
}

pub(crate) struct SignInLimiter {
    names: Mutex<Window<String>>,
    addresses: Mutex<Window<IpAddr>>,
}

/// An attempt under way, counted as failed until [`SignInLimiter::succeeded`].
pub(crate) struct Attempt {
    name: String,
    address: IpAddr,
    at: i64,
}

/// The key of a client address: itself for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The key of a user name as typed: lowercased, and bounded in length.
fn name_key(name: &str) -> String {
    name.trim()
        .chars()
        .take(80)
        .collect::<String>()
        .to_lowercase()
}

impl SignInLimiter {
    pub fn new(limits: &SignInLimits) -> Self {
        let window_ms = i64::try_from(limits.window.as_millis()).unwrap_or(i64::MAX / 4);
        Self {
            names: Mutex::new(Window::new(limits.per_user, window_ms, limits.max_tracked)),
            addresses: Mutex::new(Window::new(limits.per_ip, window_ms, limits.max_tracked)),
        }
    }

    /// Starts an attempt for `name` from `ip`, or says in how many seconds one may be made.
    pub fn begin(&self, name: &str, ip: IpAddr, now: Timestamp) -> Result<Attempt, u64> {
        let (name, address, at) = (name_key(name), address_key(ip), now.millis());
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let wait = names
            .retry_after(&name, at)
            .into_iter()
            .chain(addresses.retry_after(&address, at))
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        names.record(name.clone(), at);
        addresses.record(address, at);
        Ok(Attempt { name, address, at })
    }

    /// The attempt succeeded: the name's failures are forgotten, and the attempt no longer
    /// counts against the address (its earlier failures still do).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        names.clear(&attempt.name);
        addresses.refund(&attempt.address, attempt.at);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const T0: Timestamp = Timestamp(1_764_086_400_000);
    const MINUTE: i64 = 60_000;

    fn limiter(per_user: u32, per_ip: u32, max_tracked: usize) -> SignInLimiter {
        SignInLimiter::new(&SignInLimits {
            per_user,
            per_ip,
            window: Duration::from_secs(15 * 60),
            max_tracked,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_name_is_refused_after_its_failures_until_the_oldest_leaves_the_window() {
        let l = limiter(5, 30, 100);
        for i in 0..5 {
            l.begin("Camille", ip("192.0.2.1"), T0.plus_millis(i * MINUTE))
                .unwrap();
        }
        let at = T0.plus_millis(5 * MINUTE);
        assert_eq!(l.begin("camille", ip("192.0.2.9"), at).err(), Some(600));
        assert!(l.begin("lou", ip("192.0.2.1"), at).is_ok());
        assert!(
            l.begin("camille", ip("192.0.2.1"), T0.plus_millis(15 * MINUTE))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_refused_after_its_failures_and_a_success_does_not_clear_them() {
        let l = limiter(5, 3, 100);
        l.begin("a", ip("2001:db8::1"), T0).unwrap();
        l.begin("b", ip("2001:db8::2"), T0).unwrap();
        let ok = l.begin("c", ip("2001:db8::3"), T0).unwrap();
        assert_eq!(l.begin("d", ip("2001:db8::4"), T0).err(), Some(900));
        l.succeeded(ok);
        let last = l.begin("d", ip("2001:db8::4"), T0).unwrap();
        assert!(l.begin("e", ip("2001:db8::5"), T0).is_err());
        l.succeeded(last);
        assert!(l.begin("f", ip("2001:db8:1::1"), T0).is_ok(), "another /64");
        assert!(l.begin("g", ip("::ffff:192.0.2.1"), T0).is_ok());
    }

    #[test]
    fn a_success_clears_the_names_failures() {
        let l = limiter(2, 30, 100);
        l.begin("camille", ip("192.0.2.1"), T0).unwrap();
        let ok = l.begin("camille", ip("192.0.2.1"), T0).unwrap();
        l.succeeded(ok);
        l.begin("camille", ip("192.0.2.1"), T0).unwrap();
        l.begin("camille", ip("192.0.2.1"), T0).unwrap();
        assert!(l.begin("camille", ip("192.0.2.1"), T0).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let l = limiter(2, 1_000_000, 10);
        for i in 0..100 {
            l.begin(&format!("user{i}"), ip("192.0.2.1"), T0.plus_millis(i))
                .unwrap();
        }
        assert_eq!(l.names.lock().unwrap().failures.len(), 10);
        assert!(l.names.lock().unwrap().failures.contains_key("user99"));
    }
}
