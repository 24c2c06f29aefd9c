//! The service's own caps on what clients may ask for: the longest offline period and
//! expiry a registration may set, and how long an API token lives.
//!
//! A registration above a cap is refused (not clamped), so the owner learns at `fuda
//! protect` what the service will enforce. `fuda-keyd serve` sets them with flags; the
//! embedded service uses the defaults.

/// The service's caps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most days a licence may be used offline (the registration's `offline_days`).
    pub max_offline_days: u32,
    /// Latest expiry a registration may set, in days from now (`None` expiry stays allowed:
    /// the service decides each online request, and offline use is capped above).
    pub max_expiry_days: u32,
    /// Days an API token is valid after enrollment; `None` = until revoked.
    pub token_lifetime_days: Option<u32>,
}

/// Default [`Limits::max_offline_days`]: a month.
pub const DEFAULT_MAX_OFFLINE_DAYS: u32 = 30;
/// Default [`Limits::max_expiry_days`]: ten years.
pub const DEFAULT_MAX_EXPIRY_DAYS: u32 = 3_650;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_offline_days: DEFAULT_MAX_OFFLINE_DAYS,
            max_expiry_days: DEFAULT_MAX_EXPIRY_DAYS,
            token_lifetime_days: None,
        }
    }
}

impl Limits {
    /// Why a registration's offline days and expiry exceed the caps, if they do.
    pub fn check_registration(
        &self,
        offline_days: u32,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<(), String> {
        if offline_days > self.max_offline_days {
            return Err(format!(
                "offline use of {offline_days} days is more than this key service allows ({} days): lower offline_days in the policy's level, or ask the administrator",
                self.max_offline_days
            ));
        }
        let latest = now.saturating_add(i64::from(self.max_expiry_days) * 86_400);
        if expires_at.is_some_and(|e| e > latest) {
            return Err(format!(
                "an expiry more than {} days ahead is more than this key service allows: choose an earlier --expires",
                self.max_expiry_days
            ));
        }
        Ok(())
    }

    /// Whether a token made at `created_at` is still valid at `now`.
    pub fn token_valid(&self, created_at: i64, now: i64) -> bool {
        self.token_lifetime_days
            .is_none_or(|d| now < created_at.saturating_add(i64::from(d) * 86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_refuse_what_is_above_them() {
        let l = Limits::default();
        assert!(l.check_registration(30, Some(86_400), 0).is_ok());
        assert!(l.check_registration(31, None, 0).is_err());
        assert!(l.check_registration(0, Some(3_651 * 86_400), 0).is_err());
        assert!(l.token_valid(0, i64::MAX));
        let short = Limits {
            token_lifetime_days: Some(1),
            ..l
        };
        assert!(short.token_valid(0, 86_399));
        assert!(!short.token_valid(0, 86_400));
    }
}
