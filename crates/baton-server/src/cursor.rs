//! Opaque pagination cursors.
//!
//! Cursors only carry a position inside the caller's own data (every store call is scoped
//! by owner), so a tampered cursor can at worst skip within the caller's own list; they are
//! encoded, not signed, and a cursor that does not decode is an invalid `cursor` argument.

use baton_store::{ResearchListCursor, ResearchTaskId};
use chrono::{DateTime, Utc};
use data_encoding::BASE64URL_NOPAD;

const FINDINGS_PREFIX: &str = "f1.";
const TASKS_PREFIX: &str = "t1.";

/// Encodes "after finding `index`".
pub fn encode_findings(index: u32) -> String {
    BASE64URL_NOPAD.encode(format!("{FINDINGS_PREFIX}{index}").as_bytes())
}

/// Decodes a findings cursor.
pub fn decode_findings(text: &str) -> Option<u32> {
    let raw = decode(text)?;
    raw.strip_prefix(FINDINGS_PREFIX)?.parse().ok()
}

/// Encodes a task-list position.
pub fn encode_tasks(at: &ResearchListCursor) -> String {
    let raw = format!(
        "{TASKS_PREFIX}{}.{}",
        at.created_at.timestamp_micros(),
        data_encoding::HEXLOWER.encode(at.id.as_bytes())
    );
    BASE64URL_NOPAD.encode(raw.as_bytes())
}

/// Decodes a task-list cursor.
pub fn decode_tasks(text: &str) -> Option<ResearchListCursor> {
    let raw = decode(text)?;
    let (micros, id) = raw.strip_prefix(TASKS_PREFIX)?.split_once('.')?;
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
    let id = ResearchTaskId::from_slice(&data_encoding::HEXLOWER.decode(id.as_bytes()).ok()?)?;
    Some(ResearchListCursor { created_at, id })
}

fn decode(text: &str) -> Option<String> {
    if text.len() > 128 {
        return None;
    }
    String::from_utf8(BASE64URL_NOPAD.decode(text.as_bytes()).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_findings(&encode_findings(42)), Some(42));
        let at = ResearchListCursor {
            created_at: DateTime::<Utc>::from_timestamp_micros(1_764_000_000_123_000).unwrap(),
            id: ResearchTaskId::from_bytes([9; 16]),
        };
        assert_eq!(decode_tasks(&encode_tasks(&at)), Some(at));
    }

    #[test]
    fn foreign_and_garbage_cursors_are_rejected() {
        assert_eq!(decode_findings("not a cursor"), None);
        assert_eq!(
            decode_findings(&encode_tasks(&ResearchListCursor {
                created_at: Utc::now(),
                id: ResearchTaskId::from_bytes([1; 16]),
            })),
            None
        );
        assert_eq!(decode_tasks(&encode_findings(3)), None);
        assert_eq!(decode_tasks(&"A".repeat(1000)), None);
    }
}
