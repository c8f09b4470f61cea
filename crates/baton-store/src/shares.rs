//! Delegation: grants that share a research task with another principal, with fewer
//! rights and a shorter life, revocable. What a [`crate::ShareStore`] keeps.

use chrono::{DateTime, Utc};

use crate::{ResearchTask, ResearchTaskId};

pub use baton_protocol::ShareRight;

/// How many grants deep re-sharing may go: the owner's grant is depth 1, a re-share of it
/// depth 2, and so on. Bounds the chain a resolution walks.
pub const MAX_GRANT_DEPTH: u8 = 4;

/// A grant's identity: 128 random bits, minted with its delegated handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GrantId([u8; 16]);

impl GrantId {
    /// Wraps 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        GrantId(bytes)
    }

    /// Reads an id from a slice; `None` unless it is exactly 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(GrantId(bytes.try_into().ok()?))
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl std::fmt::Debug for GrantId {
    // Only a prefix, as for task ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GrantId({:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2]
        )
    }
}

/// What a grant allows: a right, and whether it may be shared onward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The right (`read` < `append` < `complete`).
    pub right: ShareRight,
    /// Whether the delegate may share the task onward, within this access.
    pub reshare: bool,
}

impl Access {
    /// What a task's owner holds: everything.
    pub const OWNER: Access = Access {
        right: ShareRight::Complete,
        reshare: true,
    };

    /// Whether `self` allows at least `right`.
    pub fn allows(&self, right: ShareRight) -> bool {
        self.right >= right
    }

    /// Whether `child` asks for no more than `self` holds (the attenuation rule).
    pub fn covers(&self, child: &Access) -> bool {
        self.right >= child.right && (self.reshare || !child.reshare)
    }
}

/// What [`crate::ShareStore::create_grant`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGrant {
    /// Identity, minted by the caller together with the delegated handle.
    pub id: GrantId,
    /// The shared task.
    pub task: ResearchTaskId,
    /// The task's owner (grants are scoped by it, as tasks are).
    pub owner: String,
    /// Who makes the grant: the owner, or the delegate of `parent`.
    pub grantor: String,
    /// Who receives it.
    pub delegate: String,
    /// What it allows (already checked against the parent's by the caller).
    pub access: Access,
    /// The grant it is re-shared from, if any; it must be live.
    pub parent: Option<GrantId>,
    /// 1 for the owner's grants, the parent's depth + 1 for re-shares.
    pub depth: u8,
    /// When it ends (already capped by the task's and the parent's ends by the caller).
    pub expires_at: DateTime<Utc>,
    /// The most live grants the task may have; a grant past it is refused with
    /// [`crate::StoreErrorKind::QuotaExceeded`].
    pub max_grants_per_task: u64,
}

impl NewGrant {
    /// Why a store refused this grant, from what it found afterwards, with one precedence
    /// for every backend: the task not live (or not the owner's) → `NotFound`; then the
    /// parent's resolution failing, or naming another task → its error / `NotFound`; else the
    /// task's live-grant limit → `QuotaExceeded(GrantsPerTask)`.
    pub fn refusal(
        &self,
        task_live: bool,
        parent: Option<Result<Grant, crate::StoreError>>,
    ) -> crate::StoreError {
        if !task_live {
            return crate::StoreError::not_found();
        }
        match parent {
            Some(Ok(p)) if p.task != self.task => crate::StoreError::not_found(),
            Some(Err(e)) => e,
            _ => crate::StoreError::quota_exceeded(crate::Quota::GrantsPerTask {
                limit: self.max_grants_per_task,
            }),
        }
    }

    /// The grant a store keeps for `self`, created at `now`: times truncated to the
    /// millisecond ([`crate::rules::truncate_to_millis`]), as every backend returns them.
    pub fn stored_at(self, now: DateTime<Utc>) -> Grant {
        Grant {
            id: self.id,
            task: self.task,
            owner: self.owner,
            grantor: self.grantor,
            delegate: self.delegate,
            access: self.access,
            parent: self.parent,
            depth: self.depth,
            created_at: crate::rules::truncate_to_millis(now),
            expires_at: crate::rules::truncate_to_millis(self.expires_at),
        }
    }
}

/// A grant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Identity.
    pub id: GrantId,
    /// The shared task.
    pub task: ResearchTaskId,
    /// The task's owner.
    pub owner: String,
    /// Who made it.
    pub grantor: String,
    /// Who received it.
    pub delegate: String,
    /// What it allows.
    pub access: Access,
    /// The grant it was re-shared from.
    pub parent: Option<GrantId>,
    /// Its depth in the chain from the owner (1 for the owner's grants).
    pub depth: u8,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A task shared with a principal, with the grant that shares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedTask {
    /// The grant.
    pub grant: Grant,
    /// The task.
    pub task: ResearchTask,
}

/// Where a listing of shared tasks resumes: after this grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedListCursor {
    /// The last listed grant's creation time.
    pub created_at: DateTime<Utc>,
    /// The last listed grant's id.
    pub id: GrantId,
}

/// One page of tasks shared with a principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedTasksPage {
    /// Newest grant first.
    pub shared: Vec<SharedTask>,
    /// Where the next page starts; `Some` exactly when more follow.
    pub next: Option<SharedListCursor>,
}

impl SharedTasksPage {
    /// Builds a page from up to `limit + 1` rows: the extra row only says that more follow.
    pub fn from_overfetch(mut shared: Vec<SharedTask>, limit: u32) -> SharedTasksPage {
        let limit = limit as usize;
        let more = shared.len() > limit;
        shared.truncate(limit);
        let next = if more {
            shared.last().map(|s| SharedListCursor {
                created_at: s.grant.created_at,
                id: s.grant.id,
            })
        } else {
            None
        };
        SharedTasksPage { shared, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_only_narrow() {
        let all = Access::OWNER;
        let append = Access {
            right: ShareRight::Append,
            reshare: true,
        };
        let read_only = Access {
            right: ShareRight::Read,
            reshare: false,
        };
        assert!(all.covers(&append) && append.covers(&read_only));
        assert!(!read_only.covers(&append), "more rights than held");
        assert!(
            !read_only.covers(&Access {
                right: ShareRight::Read,
                reshare: true
            }),
            "re-sharing without leave"
        );
        assert!(append.allows(ShareRight::Read) && !append.allows(ShareRight::Complete));
    }
}
