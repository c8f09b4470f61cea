//! Opaque pagination cursors.
//!
//! Cursors only carry a position inside the caller's own data (every store call is scoped
//! by owner), so a tampered cursor can at worst skip within the caller's own list; they are
//! encoded, not signed, and a cursor that does not decode is an invalid `cursor` argument.

use baton_store::{GrantId, ResearchListCursor, ResearchTaskId, SharedListCursor};
use chrono::{DateTime, Utc};
use data_encoding::BASE64URL_NOPAD;

const FINDINGS_PREFIX: &str = "f1.";
const TASKS_PREFIX: &str = "t1.";
const SHARED_PREFIX: &str = "s1.";

/// Where `list_research_tasks` resumes: within the caller's own tasks, or within the tasks
/// shared with it (which follow the own ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListPosition {
    /// Own tasks, after this one (`None`: from the start).
    Own(Option<ResearchListCursor>),
    /// Shared tasks, after this grant (`None`: from the first).
    Shared(Option<SharedListCursor>),
}

/// Encodes a `list_research_tasks` position.
pub fn encode_list(at: &ListPosition) -> String {
    match at {
        ListPosition::Own(Some(own)) => encode_tasks(own),
        ListPosition::Own(None) => BASE64URL_NOPAD.encode(TASKS_PREFIX.as_bytes()),
        ListPosition::Shared(None) => BASE64URL_NOPAD.encode(SHARED_PREFIX.as_bytes()),
        ListPosition::Shared(Some(shared)) => {
            let raw = format!(
                "{SHARED_PREFIX}{}.{}",
                shared.created_at.timestamp_micros(),
                data_encoding::HEXLOWER.encode(shared.id.as_bytes())
            );
            BASE64URL_NOPAD.encode(raw.as_bytes())
        }
    }
}

/// Decodes a `list_research_tasks` cursor.
pub fn decode_list(text: &str) -> Option<ListPosition> {
    let raw = decode(text)?;
    if raw == TASKS_PREFIX {
        return Some(ListPosition::Own(None));
    }
    if raw.starts_with(TASKS_PREFIX) {
        return decode_tasks(text).map(|own| ListPosition::Own(Some(own)));
    }
    let rest = raw.strip_prefix(SHARED_PREFIX)?;
    if rest.is_empty() {
        return Some(ListPosition::Shared(None));
    }
    let (micros, id) = rest.split_once('.')?;
    let created_at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
    let id = GrantId::from_slice(&data_encoding::HEXLOWER.decode(id.as_bytes()).ok()?)?;
    Some(ListPosition::Shared(Some(SharedListCursor {
        created_at,
        id,
    })))
}

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
        for position in [
            ListPosition::Own(None),
            ListPosition::Own(Some(at)),
            ListPosition::Shared(None),
            ListPosition::Shared(Some(SharedListCursor {
                created_at: at.created_at,
                id: GrantId::from_bytes([7; 16]),
            })),
        ] {
            assert_eq!(decode_list(&encode_list(&position)), Some(position));
        }
        // Cursors minted before sharing existed still read as own-task positions.
        assert_eq!(
            decode_list(&encode_tasks(&at)),
            Some(ListPosition::Own(Some(at)))
        );
        assert_eq!(decode_list(&encode_findings(3)), None);
        assert_eq!(decode_list("!!"), None);
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
