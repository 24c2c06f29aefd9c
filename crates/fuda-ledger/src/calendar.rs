//! Dates as the ledger and the review print them.

/// The calendar date, `YYYY-MM-DD`, of a Unix time at the organisation's offset from UTC
/// (`Policy::utc_offset`): a file saved at 08:00 in Tokyo is dated that day, not the
/// day before as in UTC.
pub fn date(secs: i64, offset: time::UtcOffset) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t.to_offset(offset))
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default()
}

/// The date and minute, `YYYY-MM-DD HH:MM`, of a Unix time at the organisation's offset
/// from UTC (when a working copy was written out, for its finding).
pub fn minute(secs: i64, offset: time::UtcOffset) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t.to_offset(offset))
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}
