//! Who a request acts for.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::{
    api_key::ApiKeyId,
    error::{Error, ErrorKind},
    scope::Scopes,
};

/// An authenticated caller: who it is, what it may do, and how it proved it.
///
/// # The principal
///
/// The principal is the string a server binds handles to and stores as the owner of what the
/// caller creates. It is qualified by how the caller authenticated, so no two sources of
/// identity can ever name the same principal:
///
/// | method  | principal                  | example                                      |
/// |---------|----------------------------|----------------------------------------------|
/// | OAuth   | `oauth:` issuer `#` `sub`  | `oauth:https://auth.example.com#user-42`     |
/// | API key | `key:` principal name      | `key:alice`                                  |
///
/// An OAuth issuer identifier never contains `#` (RFC 8414 §2 forbids fragments, and the
/// configuration refuses them), so the first `#` ends the issuer and the mapping from (issuer,
/// `sub`) to principal is one-to-one: the same `sub` from two issuers gives two principals.
/// Every API key issued to one principal name acts for the same principal, so rotating a key
/// keeps its owner's tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    principal: String,
    scopes: Scopes,
    method: AuthMethod,
}

/// How an [`Identity`] was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// An API key (not its secret: only the public id).
    ApiKey {
        /// The key's public id.
        key_id: ApiKeyId,
    },
    /// An OAuth 2.1 JWT access token.
    OAuth {
        /// The token's issuer, one of the configured ones.
        issuer: String,
        /// The token's `client_id` claim, when present (RFC 9068 §2.2).
        client_id: Option<String>,
    },
}

impl Identity {
    /// The identity of an OAuth access token's subject.
    pub fn oauth(
        issuer: &str,
        subject: &str,
        scopes: Scopes,
        client_id: Option<String>,
    ) -> Identity {
        Identity {
            principal: format!("oauth:{issuer}#{subject}"),
            scopes,
            method: AuthMethod::OAuth {
                issuer: issuer.to_owned(),
                client_id,
            },
        }
    }

    /// The identity an API key acts for.
    pub fn api_key(key_id: ApiKeyId, principal_name: &str, scopes: Scopes) -> Identity {
        Identity {
            principal: format!("key:{principal_name}"),
            scopes,
            method: AuthMethod::ApiKey { key_id },
        }
    }

    /// The qualified principal (see [the table above](Identity#the-principal)).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// The scopes granted, as presented (use [`Scopes::grants`] or [`Identity::require`],
    /// which honour the hierarchy).
    pub fn scopes(&self) -> Scopes {
        self.scopes
    }

    /// How the caller authenticated.
    pub fn method(&self) -> &AuthMethod {
        &self.method
    }

    /// `Ok` when the grant allows every scope in `needed` (honouring the hierarchy), else an
    /// [`ErrorKind::InsufficientScope`] error naming all of `needed` and what is missing;
    /// its challenge is a 403 (see [`ProtectedResource::rejection`](crate::ProtectedResource::rejection)).
    ///
    /// ```
    /// use baton_auth::{ErrorKind, Identity, Scope, Scopes};
    ///
    /// let reader = Identity::oauth("https://as.example", "u1", Scopes::from_claim("research:read"), None);
    /// assert!(reader.require(Scopes::from_iter([Scope::ResearchRead])).is_ok());
    /// let err = reader.require(Scopes::from_iter([Scope::ResearchWrite])).unwrap_err();
    /// assert_eq!(err.status(), 403);
    /// assert!(matches!(err.kind(), ErrorKind::InsufficientScope { .. }));
    /// ```
    pub fn require(&self, needed: Scopes) -> Result<(), Error> {
        let missing = self.scopes.missing(needed);
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::InsufficientScope { needed, missing }))
        }
    }

    /// A short, stable pseudonym of the principal for logs: the first 12 hex digits of
    /// SHA-256 of the principal. Logs carry this instead of the principal or any credential.
    pub fn log_id(&self) -> String {
        principal_log_id(&self.principal)
    }
}

/// The log pseudonym of a principal string (what [`Identity::log_id`] returns), for
/// principals that come from elsewhere (such as stdio's configured one).
pub fn principal_log_id(principal: &str) -> String {
    let digest = Sha256::digest(principal.as_bytes());
    let mut out = String::with_capacity(12);
    for byte in &digest[..6] {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn principals_are_qualified_by_source() {
        let a = Identity::oauth("https://a.example", "42", Scopes::empty(), None);
        let b = Identity::oauth("https://b.example", "42", Scopes::empty(), None);
        assert_eq!(a.principal(), "oauth:https://a.example#42");
        assert_ne!(a.principal(), b.principal());
        let key = Identity::api_key(
            "0123456789abcdef".parse().unwrap(),
            "alice",
            Scopes::empty(),
        );
        assert_eq!(key.principal(), "key:alice");
    }

    #[test]
    fn log_id_is_short_and_stable() {
        let id = principal_log_id("key:alice");
        assert_eq!(id.len(), 12);
        assert_eq!(id, principal_log_id("key:alice"));
        assert_ne!(id, principal_log_id("key:alicf"));
        assert!(!id.contains("alice"));
    }
}
