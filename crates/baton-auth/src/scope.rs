//! The scopes baton knows, their hierarchy, and sets of them.

use std::{fmt, str::FromStr};

use crate::error::{Error, ErrorKind};

/// One permission a caller can hold.
///
/// | scope            | allows                                                  | implies         |
/// |------------------|---------------------------------------------------------|-----------------|
/// | `research:read`  | list research tasks, read their status and results      |                 |
/// | `research:write` | start, add to, complete and cancel research tasks       | `research:read` |
/// | `tools:search`   | search the tool catalogue and call tools through it     |                 |
///
/// Which scope each tool needs is the server's decision; this crate only knows the names
/// and that `research:write` implies `research:read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `research:read`
    ResearchRead,
    /// `research:write` (implies `research:read`)
    ResearchWrite,
    /// `tools:search`
    ToolsSearch,
}

impl Scope {
    /// Every scope, in their canonical order.
    pub const ALL: [Scope; 3] = [
        Scope::ResearchRead,
        Scope::ResearchWrite,
        Scope::ToolsSearch,
    ];

    /// The scope's name, as in a `scope` claim or challenge.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ResearchRead => "research:read",
            Scope::ResearchWrite => "research:write",
            Scope::ToolsSearch => "tools:search",
        }
    }

    /// The scope with this exact name, if any.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// This scope and every scope it implies.
    pub fn implied(self) -> Scopes {
        match self {
            Scope::ResearchWrite => Scopes::from_iter([Scope::ResearchWrite, Scope::ResearchRead]),
            other => Scopes::from_iter([other]),
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;

    /// Parses one scope name strictly (for configuration and command lines): an unknown name
    /// is an [`ErrorKind::UnknownScope`] error naming it.
    fn from_str(s: &str) -> Result<Scope, Error> {
        Scope::from_name(s).ok_or_else(|| {
            let shown: String = s.chars().take(64).collect();
            Error::with_detail(
                ErrorKind::UnknownScope,
                format!("'{}'", shown.escape_debug()),
            )
        })
    }
}

/// A set of [`Scope`]s.
///
/// `Display` writes the names space-separated in canonical order (the form of a `scope`
/// claim, of `scope="…"` in a challenge, and of a stored value); `FromStr` reads that form
/// back strictly, while [`Scopes::from_claim`] reads a token's claim leniently.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// No scope.
    pub const fn empty() -> Scopes {
        Scopes(0)
    }

    /// Every scope.
    pub fn all() -> Scopes {
        Scopes::from_iter(Scope::ALL)
    }

    /// Reads a space-separated `scope` claim (RFC 8693 §4.2, RFC 9068 §2.2.3). Unknown
    /// names are ignored: an issuer may grant scopes meant for other resources.
    pub fn from_claim(claim: &str) -> Scopes {
        claim
            .split(' ')
            .filter_map(Scope::from_name)
            .collect::<Scopes>()
    }

    /// Whether the set holds `scope` itself (not counting implications; see
    /// [`Scopes::grants`]).
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The set with `scope` added.
    #[must_use]
    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of scopes in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The scopes in both sets.
    #[must_use]
    pub fn union(self, other: Scopes) -> Scopes {
        Scopes(self.0 | other.0)
    }

    /// The scopes of `self` that are not in `other`.
    #[must_use]
    pub fn difference(self, other: Scopes) -> Scopes {
        Scopes(self.0 & !other.0)
    }

    /// The set with every implied scope added: what a grant of these scopes allows.
    #[must_use]
    pub fn expanded(self) -> Scopes {
        self.iter()
            .fold(Scopes::empty(), |acc, s| acc.union(s.implied()))
    }

    /// Whether a grant of these scopes allows `scope` (itself or through the hierarchy).
    pub fn grants(self, scope: Scope) -> bool {
        self.expanded().contains(scope)
    }

    /// The scopes of `required` that a grant of `self` does not allow, honouring the
    /// hierarchy. Empty when the grant suffices.
    ///
    /// ```
    /// use baton_auth::{Scope, Scopes};
    ///
    /// let granted = Scopes::from_claim("research:write");
    /// let required = Scopes::from_iter([Scope::ResearchRead, Scope::ToolsSearch]);
    /// assert_eq!(granted.missing(required).to_string(), "tools:search");
    /// assert!(granted.missing(Scopes::from_claim("research:read")).is_empty());
    /// ```
    #[must_use]
    pub fn missing(self, required: Scopes) -> Scopes {
        required.difference(self.expanded())
    }

    /// The scopes in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Scopes {
        iter.into_iter().fold(Scopes::empty(), Scopes::with)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes(\"{self}\")")
    }
}

impl FromStr for Scopes {
    type Err = Error;

    /// Parses space-separated scope names strictly (a stored value, a configuration): every
    /// name must be known. The empty string is the empty set.
    fn from_str(s: &str) -> Result<Scopes, Error> {
        s.split(' ')
            .filter(|name| !name.is_empty())
            .map(Scope::from_str)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn claim_parsing_ignores_unknown_names_and_extra_spaces() {
        let scopes = Scopes::from_claim("openid  research:read profile tools:search ");
        assert_eq!(scopes.to_string(), "research:read tools:search");
        assert!(Scopes::from_claim("").is_empty());
        // Names are case-sensitive (RFC 6749 §3.3).
        assert!(Scopes::from_claim("Research:Read").is_empty());
    }

    #[test]
    fn write_implies_read_only() {
        let write = Scopes::from_iter([Scope::ResearchWrite]);
        assert!(write.grants(Scope::ResearchRead));
        assert!(write.grants(Scope::ResearchWrite));
        assert!(!write.grants(Scope::ToolsSearch));
        let read = Scopes::from_iter([Scope::ResearchRead]);
        assert!(!read.grants(Scope::ResearchWrite));
        assert_eq!(
            read.missing(Scopes::all()).to_string(),
            "research:write tools:search"
        );
    }

    #[test]
    fn strict_parsing_names_the_unknown_scope() {
        assert_eq!(
            "tools:search research:read".parse::<Scopes>().unwrap(),
            Scopes::from_iter([Scope::ToolsSearch, Scope::ResearchRead])
        );
        let err = "research:read admin".parse::<Scopes>().unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::UnknownScope);
        assert_eq!(
            err.to_string(),
            "unknown scope: the scopes are research:read, research:write, tools:search: 'admin'"
        );
    }

    fn any_scopes() -> impl Strategy<Value = Scopes> {
        (0u8..8).prop_map(Scopes)
    }

    proptest! {
        #[test]
        fn display_round_trips(scopes in any_scopes()) {
            prop_assert_eq!(scopes.to_string().parse::<Scopes>().unwrap(), scopes);
            prop_assert_eq!(Scopes::from_claim(&scopes.to_string()), scopes);
        }

        #[test]
        fn missing_is_exactly_what_the_grant_does_not_allow(
            granted in any_scopes(),
            required in any_scopes(),
        ) {
            let missing = granted.missing(required);
            for scope in Scope::ALL {
                let expected = required.contains(scope) && !granted.grants(scope);
                prop_assert_eq!(missing.contains(scope), expected);
            }
            // Granting the missing scopes closes the gap.
            prop_assert!(granted.union(missing).missing(required).is_empty());
        }

        #[test]
        fn claims_never_panic_and_only_hold_known_names(claim in ".{0,200}") {
            let scopes = Scopes::from_claim(&claim);
            for scope in scopes.iter() {
                prop_assert!(claim.split(' ').any(|w| w == scope.as_str()));
            }
        }
    }
}
