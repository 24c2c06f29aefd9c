//! The audit record of an address blocked after too many failed authentications (the
//! HTTPS front decides; the record makes the guessing visible in the one log auditors read).

use std::net::IpAddr;

use super::authz::audit_err;
use super::lifecycle::Service;
use crate::audit::Event;
use crate::error::Error;
use crate::store::append_audit;

impl Service {
    /// Records that `address` is refused for `seconds` after `failures` failed
    /// authentications (actor `-`: a guess names nobody).
    pub async fn audit_throttled(
        &self,
        address: IpAddr,
        failures: u32,
        seconds: u64,
    ) -> Result<(), Error> {
        let keys = self.keys();
        self.run_async(move |tx| {
            let event = Event::allow("-", "auth-throttled")
                .deny("too-many-failures")
                .detail(serde_json::json!({
                    "address": address.to_string(),
                    "failures": failures,
                    "blocked_seconds": seconds,
                }));
            append_audit(tx, keys.audit_key(), event).map_err(audit_err)?;
            Ok(())
        })
        .await
    }
}
