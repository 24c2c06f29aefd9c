//! What keeps hostile clients from starving the well-behaved ones: a cap on open
//! connections, and a per-address brake on failed authentications (guessed tokens and
//! enrollment codes).
//!
//! Tokens and enrollment codes are 256-bit random secrets, so guessing one is hopeless;
//! the brake is there so that trying costs the guesser, not the service: after
//! [`FrontLimits::auth_failures`] answers of 401 to one address within
//! [`FrontLimits::auth_window`], that address is answered 429 for
//! [`FrontLimits::auth_block`] without its requests reaching the service, and the block is
//! one audit record (`auth-throttled`). There is no per-account brake: a guess names no
//! account.

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
}

impl Default for FrontLimits {
    fn default() -> FrontLimits {
        FrontLimits {
            max_connections: 1024,
            max_connections_per_address: 256,
            idle_timeout: Duration::from_secs(10),
            auth_failures: 20,
            auth_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(300),
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
