//! What keeps hostile clients from starving the well-behaved ones: a cap on open
//! connections, a per-address brake on failed authentications (guessed tokens and
//! enrollment codes), and a per-account budget of requests for valid tokens.
//!
//! Tokens and enrollment codes are 256-bit random secrets, so guessing one is hopeless;
//! the brake is there so that trying costs the guesser, not the service: after
//! [`FrontLimits::auth_failures`] answers of 401 to one address within
//! [`FrontLimits::auth_window`], that address is answered 429 for
//! [`FrontLimits::auth_block`] without its requests reaching the service, and the block is
//! one audit record (`auth-throttled`). A guess names no account, so guesses are braked by
//! address only.
//!
//! A valid token is not a licence to hammer: each account (the user a token belongs to)
//! has a budget of [`FrontLimits::account_requests_per_minute`] requests, a token bucket
//! that holds a minute's worth and refills evenly ([`AccountBrake`]). Over it, the account
//! is answered 429 with `Retry-After` until its bucket has a request again; other accounts
//! go on. At most one audit record (`account-throttled`) per account per minute, with the
//! number of refusals it stands for, so an abusive client cannot flood the audit log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits of the HTTPS front (`fuda-keyd serve --max-connections …`).
#[derive(Clone, Copy, Debug)]
pub struct FrontLimits {
    /// Open connections at most; a connection over the limit is closed at once.
    pub max_connections: usize,
    /// Open connections from one address at most (so that one client cannot take them
    /// all); over it, closed at once.
    pub max_connections_per_address: usize,
    /// A connection that sends no request for this long is closed (also the time allowed
    /// for the TLS handshake and for a request's headers).
    pub idle_timeout: Duration,
    /// Failed authentications from one address that start a block.
    pub auth_failures: u32,
    /// The window they are counted in.
    pub auth_window: Duration,
    /// How long a blocked address is answered 429.
    pub auth_block: Duration,
    /// Requests one account (all of one user's tokens) may make in a minute, as a token
    /// bucket: a full minute's worth at once, then this many a minute.
    pub account_requests_per_minute: u32,
}

/// The default of [`FrontLimits::account_requests_per_minute`]: 500 requests a second
/// sustained, and a burst of 30,000. One licence per `fuda open` (measured by
/// `tests/hostile_keyd.rs`), so a 10,000-file folder opened as fast as the client can
/// fits in the burst three times over, and a file-server hook protecting 200 files a
/// second stays under half of it; one abusive account gets at most a small share of a
/// service that answers several thousand licences a second (benches/README.md).
pub const DEFAULT_ACCOUNT_REQUESTS_PER_MINUTE: u32 = 30_000;

impl Default for FrontLimits {
    fn default() -> FrontLimits {
        FrontLimits {
            max_connections: 1024,
            max_connections_per_address: 256,
            idle_timeout: Duration::from_secs(10),
            auth_failures: 20,
            auth_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(300),
            account_requests_per_minute: DEFAULT_ACCOUNT_REQUESTS_PER_MINUTE,
        }
    }
}

/// Most addresses tracked at once; beyond it the oldest windows are dropped (an attacker
/// with that many addresses is not slowed by a per-address brake anyway).
const TRACKED_ADDRESSES: usize = 65_536;

#[derive(Clone, Copy, Debug)]
struct Window {
    started: Instant,
    failures: u32,
    blocked_until: Option<Instant>,
}

/// Failed authentications per address.
#[derive(Clone, Debug)]
pub struct AuthBrake {
    limits: FrontLimits,
    windows: Arc<Mutex<HashMap<IpAddr, Window>>>,
}

/// What [`AuthBrake::failed`] decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Counted.
    Counted,
    /// This failure started a block of the address (audit it).
    Blocked {
        /// Failures in the window.
        failures: u32,
    },
}

impl AuthBrake {
    /// A brake with these limits.
    pub fn new(limits: FrontLimits) -> AuthBrake {
        AuthBrake {
            limits,
            windows: Arc::default(),
        }
    }

    /// How long a block lasts.
    pub fn block(&self) -> Duration {
        self.limits.auth_block
    }

    /// Whether `address` is blocked now.
    pub fn blocked(&self, address: IpAddr, now: Instant) -> bool {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows
            .get(&address)
            .and_then(|w| w.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failed authentication from `address`.
    pub fn failed(&self, address: IpAddr, now: Instant) -> Failure {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= TRACKED_ADDRESSES && !windows.contains_key(&address) {
            let window = self.limits.auth_window;
            windows.retain(|_, w| {
                now.duration_since(w.started) < window
                    || w.blocked_until.is_some_and(|until| now < until)
            });
            if windows.len() >= TRACKED_ADDRESSES {
                windows.clear();
            }
        }
        let w = windows.entry(address).or_insert(Window {
            started: now,
            failures: 0,
            blocked_until: None,
        });
        let block_over = w.blocked_until.is_some_and(|until| now >= until);
        if block_over || now.duration_since(w.started) >= self.limits.auth_window {
            *w = Window {
                started: now,
                failures: 0,
                blocked_until: None,
            };
        }
        w.failures = w.failures.saturating_add(1);
        if w.blocked_until.is_none() && w.failures >= self.limits.auth_failures {
            w.blocked_until = Some(now + self.limits.auth_block);
            return Failure::Blocked {
                failures: w.failures,
            };
        }
        Failure::Counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brake() -> AuthBrake {
        AuthBrake::new(FrontLimits {
            auth_failures: 3,
            auth_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(300),
            ..FrontLimits::default()
        })
    }

    #[test]
    fn an_address_is_blocked_after_the_failures_in_one_window_and_freed_after_the_block() {
        let (b, t0) = (brake(), Instant::now());
        let guesser: IpAddr = "127.0.0.2".parse().unwrap();
        let colleague: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(b.failed(guesser, t0), Failure::Counted);
        assert_eq!(b.failed(guesser, t0), Failure::Counted);
        assert_eq!(b.failed(guesser, t0), Failure::Blocked { failures: 3 });
        assert!(b.blocked(guesser, t0 + Duration::from_secs(299)));
        assert!(!b.blocked(colleague, t0), "other addresses go on");
        // Failures while blocked do not start another block (one audit record per block).
        assert_eq!(
            b.failed(guesser, t0 + Duration::from_secs(10)),
            Failure::Counted
        );
        assert!(!b.blocked(guesser, t0 + Duration::from_secs(300)));
    }

    #[test]
    fn failures_spread_over_more_than_a_window_never_block() {
        let (b, t0) = (brake(), Instant::now());
        let typo: IpAddr = "::1".parse().unwrap();
        for minute in 0..10 {
            let at = t0 + Duration::from_secs(61 * minute);
            assert_eq!(b.failed(typo, at), Failure::Counted);
            assert_eq!(b.failed(typo, at), Failure::Counted);
        }
        assert!(!b.blocked(typo, t0 + Duration::from_secs(700)));
    }
}

/// Accounts tracked at once; beyond it the full buckets (as good as new) are dropped.
const TRACKED_ACCOUNTS: usize = 65_536;

/// One account's budget: requests left (fractions accrue), as of `at`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    left: f64,
    at: Instant,
    /// Refusals not yet in an audit record.
    refused: u64,
    /// When the last audit record of this account's refusals was asked for.
    audited: Option<Instant>,
}

/// Requests per account (the user a valid token belongs to), as token buckets.
#[derive(Clone, Debug)]
pub struct AccountBrake {
    per_minute: u32,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

/// What [`AccountBrake::admit`] decided.
#[derive(Debug, PartialEq)]
pub enum Admit {
    /// Within the budget.
    Allowed,
    /// Over it: answer 429.
    Refused {
        /// When the account has a request again (whole seconds, at least one).
        retry_after: Duration,
        /// `Some(refusals)` when this refusal is to be audited, with the refusals the
        /// record stands for (this one and those since the previous record); at most one a
        /// minute per account.
        audit: Option<u64>,
    },
}

/// At most one audit record per account in this long.
const AUDIT_EVERY: Duration = Duration::from_secs(60);

impl AccountBrake {
    /// A brake letting each account make `per_minute` requests a minute.
    pub fn new(per_minute: u32) -> AccountBrake {
        AccountBrake {
            per_minute: per_minute.max(1),
            buckets: Arc::default(),
        }
    }

    /// The budget a minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one request from `account`'s budget, if there is one.
    pub fn admit(&self, account: &str, now: Instant) -> Admit {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= TRACKED_ACCOUNTS && !buckets.contains_key(account) {
            buckets.retain(|_, b| {
                b.left + now.duration_since(b.at).as_secs_f64() * per_second < capacity
            });
            if buckets.len() >= TRACKED_ACCOUNTS {
                buckets.clear();
            }
        }
        let bucket = match buckets.get_mut(account) {
            Some(b) => b,
            None => buckets.entry(account.to_owned()).or_insert(Bucket {
                left: capacity,
                at: now,
                refused: 0,
                audited: None,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.left = (bucket.left + elapsed * per_second).min(capacity);
        bucket.at = now;
        if bucket.left >= 1.0 {
            bucket.left -= 1.0;
            return Admit::Allowed;
        }
        let wait = ((1.0 - bucket.left) / per_second).ceil().max(1.0);
        bucket.refused = bucket.refused.saturating_add(1);
        let audit = match bucket.audited {
            Some(at) if now.saturating_duration_since(at) < AUDIT_EVERY => None,
            _ => {
                bucket.audited = Some(now);
                Some(std::mem::take(&mut bucket.refused))
            }
        };
        Admit::Refused {
            retry_after: Duration::from_secs(wait as u64),
            audit,
        }
    }
}

#[cfg(test)]
mod account_tests {
    use super::*;

    #[test]
    fn an_account_over_its_budget_is_refused_until_it_refills_and_others_go_on() {
        let (brake, t0) = (AccountBrake::new(60), Instant::now());
        for i in 0..60 {
            assert_eq!(brake.admit("hammer", t0), Admit::Allowed, "request {i}");
        }
        assert_eq!(
            brake.admit("hammer", t0),
            Admit::Refused {
                retry_after: Duration::from_secs(1),
                audit: Some(1)
            }
        );
        assert_eq!(brake.admit("colleague", t0), Admit::Allowed);
        // One request a second comes back, not the whole minute at once.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(brake.admit("hammer", t1), Admit::Allowed);
        assert!(matches!(brake.admit("hammer", t1), Admit::Refused { .. }));
        // A full minute later the whole budget is back.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..60 {
            assert_eq!(brake.admit("hammer", t2), Admit::Allowed);
        }
    }

    #[test]
    fn refusals_are_audited_once_a_minute_with_how_many_they_were() {
        let (brake, t0) = (AccountBrake::new(10), Instant::now());
        let mut audits = Vec::new();
        // Hammering for three minutes, 20 requests a second.
        for tick in 0..(3 * 60 * 20) {
            let at = t0 + Duration::from_millis(50 * tick);
            if let Admit::Refused {
                audit: Some(n),
                retry_after,
            } = brake.admit("hammer", at)
            {
                assert!(retry_after >= Duration::from_secs(1));
                audits.push((tick, n));
            }
        }
        assert_eq!(audits.len(), 3, "{audits:?}");
        assert_eq!(audits[0].1, 1, "the first refusal is recorded at once");
        // Each later record counts the refusals since the one before (a minute of them).
        assert!(audits[1].1 > 1000, "{audits:?}");
    }

    #[test]
    fn the_retry_after_says_when_a_request_is_back() {
        let (brake, t0) = (AccountBrake::new(6), Instant::now());
        for _ in 0..6 {
            assert_eq!(brake.admit("slow", t0), Admit::Allowed);
        }
        let Admit::Refused { retry_after, .. } = brake.admit("slow", t0) else {
            panic!("not refused");
        };
        assert_eq!(
            retry_after,
            Duration::from_secs(10),
            "6 a minute: one in 10 s"
        );
        assert_eq!(
            brake.admit("slow", t0 + retry_after),
            Admit::Allowed,
            "back when it said"
        );
    }
}

/// Open connections per address.
#[derive(Clone, Debug, Default)]
pub struct OpenConnections(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct Counted {
    open: OpenConnections,
    address: IpAddr,
}

impl OpenConnections {
    /// Counts a connection from `address`, unless `limit` are open from it already.
    pub fn admit(&self, address: IpAddr, limit: usize) -> Option<Counted> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(address).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(Counted {
            open: self.clone(),
            address,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;

    #[test]
    fn one_address_gets_at_most_its_share_and_a_closed_connection_frees_its_place() {
        let open = OpenConnections::default();
        let greedy: IpAddr = "127.0.0.2".parse().unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        let held: Vec<Counted> = (0..3).map(|_| open.admit(greedy, 3).unwrap()).collect();
        assert!(open.admit(greedy, 3).is_none());
        assert!(open.admit(other, 3).is_some());
        drop(held);
        assert!(open.admit(greedy, 3).is_some());
        assert!(
            open.0.lock().unwrap().get(&other).is_none(),
            "forgotten when closed"
        );
    }
}
