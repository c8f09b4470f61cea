//! Delegation: an owner shares a research task with another principal through a delegated
//! handle (`dtask_…`), with a right that only narrows (`read` < `append` < `complete`), a
//! shorter life, and revocable; a delegate allowed to may share onward, within what it
//! holds. The grant behind every delegated handle is in the store, so every instance checks
//! it on every call and a revocation takes effect everywhere at once.

use std::sync::Arc;

use baton_auth::Scope;
use baton_protocol::{
    HandleArgs, ResearchTaskShare, ResearchTaskShares, RevokeResearchTaskShare,
    RevokedResearchTaskShare, ShareResearchTask, SharedResearchTask, ToolError, tool,
};
use baton_store::{Access, GrantId, MAX_GRANT_DEPTH, NewGrant};
use chrono::Utc;
use rmcp::model::ToolAnnotations;

use super::ToolTable;
use super::research::{
    Listing, Research, audit, last_valid_second, read_error, register, rfc3339, share_id,
};
use crate::principal::Principal;

/// The most live shares one task may have (each re-share counts).
pub const MAX_SHARES_PER_TASK: u64 = 100;

/// Reads a share id (`share_` and 32 hex digits).
fn parse_share_id(text: &str) -> Option<GrantId> {
    let hex = text.strip_prefix("share_")?;
    if hex.len() != 32 {
        return None;
    }
    GrantId::from_slice(
        &data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .ok()?,
    )
}

impl Research {
    /// `share_research_task`.
    pub async fn share(
        &self,
        who: Principal,
        args: ShareResearchTask,
    ) -> Result<SharedResearchTask, ToolError> {
        let valid = args.validate()?;
        let Some(shares) = &self.shares else {
            return Err(ToolError::UnknownHandle);
        };
        let now = Utc::now();
        let target = self.target(&args.handle, &who, now).await?;
        let held = target.access();
        let asked = Access {
            right: valid.rights,
            reshare: valid.allow_reshare,
        };
        if valid.principal == who.as_str() {
            return Err(ToolError::invalid(
                "principal",
                "is you: a share is for another principal",
            ));
        }
        if valid.principal == target.owner {
            return Err(ToolError::invalid(
                "principal",
                "is the task's owner, who holds every right already",
            ));
        }
        if !held.reshare {
            return Err(ToolError::invalid(
                "handle",
                "was shared with you without allow_reshare, so you cannot share it onward",
            ));
        }
        if !held.covers(&asked) {
            return Err(ToolError::invalid(
                "rights",
                format!(
                    "asks for `{}` but you hold `{}`: a share can only narrow what you hold",
                    asked.right, held.right
                ),
            ));
        }
        let (parent, depth, parent_end) = match target.grant() {
            None => (None, 1, None),
            Some(grant) => (Some(grant.id), grant.depth + 1, Some(grant.expires_at)),
        };
        if depth > MAX_GRANT_DEPTH {
            return Err(ToolError::invalid(
                "handle",
                format!(
                    "was re-shared {} times already; shares go at most {MAX_GRANT_DEPTH} deep",
                    depth - 1
                ),
            ));
        }
        // The task's own end caps the share (reading it counts as use, like any read).
        let task = self
            .store
            .get(&target.owner, &target.id, now)
            .await
            .map_err(read_error("read the task"))?;
        let asked_end =
            now + chrono::Duration::seconds(i64::try_from(valid.expires_in).unwrap_or(0));
        let mut expires_at = asked_end.min(task.hard_expires_at);
        if let Some(end) = parent_end {
            expires_at = expires_at.min(end);
        }
        let minted = self
            .keys
            .codecs()
            .delegated
            .mint(&valid.principal, last_valid_second(expires_at));
        let grant = NewGrant {
            id: GrantId::from_bytes(*minted.id.as_bytes()),
            task: target.id,
            owner: target.owner.clone(),
            grantor: who.as_str().to_owned(),
            delegate: valid.principal.clone(),
            access: asked,
            parent,
            depth,
            expires_at,
            max_grants_per_task: MAX_SHARES_PER_TASK,
        };
        let created = self
            .write("share the task", shares.create_grant(grant, now))
            .await;
        let outcome = match &created {
            Ok(_) => "ok",
            Err(_) => "error",
        };
        audit(
            tool::SHARE_RESEARCH_TASK,
            &who,
            &target.id,
            Some(&GrantId::from_bytes(*minted.id.as_bytes())),
            outcome,
        );
        let created = created?;
        Ok(SharedResearchTask {
            share: share_id(&created.id),
            handle: minted.handle,
            principal: created.delegate,
            rights: created.access.right,
            allow_reshare: created.access.reshare,
            expires_at: rfc3339(created.expires_at),
        })
    }

    /// `list_research_task_shares`.
    pub async fn list_shares(
        &self,
        who: Principal,
        args: HandleArgs,
    ) -> Result<ResearchTaskShares, ToolError> {
        let Some(shares) = &self.shares else {
            return Err(ToolError::UnknownHandle);
        };
        let now = Utc::now();
        let target = self.target(&args.handle, &who, now).await?;
        if target.grant().is_some() {
            return Err(ToolError::OwnerOnly {
                action: "list the task's shares",
            });
        }
        let grants = shares
            .grants_of(&target.owner, &target.id, now)
            .await
            .map_err(read_error("list shares"))?;
        if grants.is_empty() {
            // No shares, or no task: a handle to a task that is gone answers like any
            // unknown handle.
            self.store
                .get(&target.owner, &target.id, now)
                .await
                .map_err(read_error("read the task"))?;
        }
        Ok(ResearchTaskShares {
            handle: args.handle,
            shares: grants
                .into_iter()
                .map(|g| ResearchTaskShare {
                    share: share_id(&g.id),
                    principal: g.delegate,
                    shared_by: g.grantor,
                    rights: g.access.right,
                    allow_reshare: g.access.reshare,
                    created_at: rfc3339(g.created_at),
                    expires_at: rfc3339(g.expires_at),
                })
                .collect(),
        })
    }

    /// `revoke_research_task_share`.
    pub async fn revoke_share(
        &self,
        who: Principal,
        args: RevokeResearchTaskShare,
    ) -> Result<RevokedResearchTaskShare, ToolError> {
        let Some(shares) = &self.shares else {
            return Err(ToolError::UnknownShare);
        };
        let id = parse_share_id(&args.share).ok_or_else(|| {
            ToolError::invalid(
                "share",
                "is not a share id (`share_` followed by 32 hex digits, as share_research_task returns)",
            )
        })?;
        let now = Utc::now();
        let revoked = self
            .write(
                "revoke the share",
                shares.revoke_grant(who.as_str(), &id, now),
            )
            .await;
        let revoked = match revoked {
            Ok(n) => n,
            Err(ToolError::UnknownHandle) => {
                tracing::info!(target: "baton::audit", action = tool::REVOKE_RESEARCH_TASK_SHARE,
                    principal = %crate::audit::principal_ref(who.as_str()), share = %share_id(&id), outcome = "unknown share", "audit");
                return Err(ToolError::UnknownShare);
            }
            Err(e) => return Err(e),
        };
        tracing::info!(target: "baton::audit", action = tool::REVOKE_RESEARCH_TASK_SHARE,
            principal = %crate::audit::principal_ref(who.as_str()), share = %share_id(&id), revoked, outcome = "ok", "audit");
        Ok(RevokedResearchTaskShare {
            share: share_id(&id),
            revoked,
        })
    }

    /// Registers the three share tools (only when the backend keeps grants).
    pub(super) fn register_shares(self: &Arc<Self>, table: &mut ToolTable) -> anyhow::Result<()> {
        let writes = ToolAnnotations::new()
            .read_only(false)
            .destructive(false)
            .idempotent(false)
            .open_world(false);
        register::<ShareResearchTask, SharedResearchTask, _, _>(
            table,
            self,
            Listing {
                name: tool::SHARE_RESEARCH_TASK,
                scope: Scope::ResearchWrite,
                title: "Share research task",
            },
            format!(
                "Share a research task with another principal (for example a sub-agent with its own credentials) and get a delegated handle for it. \
                 `rights`: read (status and results), append (read + add_findings) or complete (append + complete/cancel); never more than you hold. \
                 The share lasts `expires_in` seconds (60-604800, default 86400), never past the task's own end or your own share's. \
                 The delegated handle works only for that principal; revoke it with revoke_research_task_share. \
                 With allow_reshare the delegate may share onward within what it holds (at most {MAX_GRANT_DEPTH} levels). A task has at most {MAX_SHARES_PER_TASK} live shares."
            ),
            writes.clone(),
            |r, who, a| async move { r.share(who, a).await },
        )?;
        register::<HandleArgs, ResearchTaskShares, _, _>(
            table,
            self,
            Listing {
                name: tool::LIST_RESEARCH_TASK_SHARES,
                scope: Scope::ResearchRead,
                title: "List research task shares",
            },
            "List the live shares of one of your research tasks (including shares made onward by delegates): who holds each, with which rights, until when, and the share id to revoke it.".to_owned(),
            ToolAnnotations::new()
                .read_only(true)
                .destructive(false)
                .idempotent(true)
                .open_world(false),
            |r, who, a| async move { r.list_shares(who, a).await },
        )?;
        register::<RevokeResearchTaskShare, RevokedResearchTaskShare, _, _>(
            table,
            self,
            Listing {
                name: tool::REVOKE_RESEARCH_TASK_SHARE,
                scope: Scope::ResearchWrite,
                title: "Revoke research task share",
            },
            "Revoke a share of your research task (or one you made onward), by its share id: its delegated handle stops working at once on every server, and so does every share made from it.".to_owned(),
            writes.destructive(true),
            |r, who, a| async move { r.revoke_share(who, a).await },
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_ids_round_trip_and_reject_garbage() {
        let id = GrantId::from_bytes([0xab; 16]);
        assert_eq!(parse_share_id(&share_id(&id)), Some(id));
        assert_eq!(parse_share_id(&share_id(&id).to_uppercase()), None);
        assert_eq!(parse_share_id("share_abc"), None);
        assert_eq!(parse_share_id(&format!("task_{}", "ab".repeat(16))), None);
        assert_eq!(parse_share_id(&format!("share_{}", "zz".repeat(16))), None);
    }
}
