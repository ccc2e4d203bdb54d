//! Wall-clock time as text: the UTC ISO 8601 stamps written into files (`start_time`,
//! `end_time`, `file_time`) and from which the settings derive the default run id and the
//! `{date}`/`{time}` placeholders (the calendar arithmetic is the SDK's).

use std::time::SystemTime;

/// UTC time as ISO 8601 with microseconds: `2026-11-22T00:06:11.123456Z`.
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    daqflow_sdk::time::rfc3339_utc(d.as_nanos() as u64)
}
