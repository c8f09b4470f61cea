//! What an [`OAuthVerifier`](super::OAuthVerifier) accepts.

use std::{fmt, str::FromStr, time::Duration};

use crate::error::{Error, ErrorKind};

/// An asymmetric JWS signature algorithm a token may be signed with.
///
/// Only public-key algorithms exist here: `none` and the HMAC algorithms (`HS256`…) can't be
/// configured, so a token using them is always refused, and a public key can never be misused
/// as an HMAC secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)] // the names of RFC 7518
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// Every algorithm; the default set accepted.
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm's JOSE name, as in a token's `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }

    pub(crate) fn from_jwt(alg: jsonwebtoken::Algorithm) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.to_jwt() == alg)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Algorithm, Error> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let shown: String = s.chars().take(32).collect();
                Error::with_detail(
                    ErrorKind::UnknownAlgorithm,
                    format!("'{}'", shown.escape_debug()),
                )
            })
    }
}

/// Where an issuer's signing keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// From the `jwks_uri` in the issuer's metadata (RFC 8414, then OpenID Connect Discovery).
    Discover,
    /// From this `jwks_uri`.
    JwksUri(String),
    /// This JWKS document, never refreshed.
    Static(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IssuerConfig {
    pub(crate) issuer: String,
    pub(crate) keys: KeySource,
}

/// The configuration of an [`OAuthVerifier`](super::OAuthVerifier): baton's resource URI
/// (the audience), the issuers it trusts and how it checks their tokens.
///
/// Building it never fails; [`OAuthVerifier::new`](super::OAuthVerifier::new) checks it.
///
/// ```
/// use std::time::Duration;
/// use baton_auth::{Algorithm, OAuthConfig};
///
/// let config = OAuthConfig::new("https://baton.example.com/mcp")
///     .issuer("https://auth.example.com")
///     .issuer_with_jwks_uri("https://login.partner.example", "https://login.partner.example/keys")
///     .leeway(Duration::from_secs(30))
///     .algorithms([Algorithm::RS256, Algorithm::ES256]);
/// assert_eq!(config.resource(), "https://baton.example.com/mcp");
/// assert_eq!(config.issuers().count(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    pub(crate) resource: String,
    pub(crate) issuers: Vec<IssuerConfig>,
    pub(crate) leeway: Duration,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) min_refresh_interval: Duration,
    pub(crate) max_key_set_age: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) require_at_jwt: bool,
}

impl OAuthConfig {
    /// The default clock-skew leeway for `exp` and `nbf`.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
    /// The default shortest time between two key-set fetches for one issuer.
    pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
    /// The default age after which a key set is fetched again on next use.
    pub const DEFAULT_MAX_KEY_SET_AGE: Duration = Duration::from_secs(15 * 60);
    /// The default timeout of one metadata or key-set request.
    pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration for tokens whose audience is `resource`: baton's canonical URI as
    /// clients send it in the RFC 8707 `resource` parameter, such as
    /// `https://baton.example.com/mcp`. A token's `aud` must contain this exact string.
    pub fn new(resource: &str) -> OAuthConfig {
        OAuthConfig {
            resource: resource.to_owned(),
            issuers: Vec::new(),
            leeway: OAuthConfig::DEFAULT_LEEWAY,
            algorithms: Algorithm::ALL.to_vec(),
            min_refresh_interval: OAuthConfig::DEFAULT_MIN_REFRESH_INTERVAL,
            max_key_set_age: OAuthConfig::DEFAULT_MAX_KEY_SET_AGE,
            http_timeout: OAuthConfig::DEFAULT_HTTP_TIMEOUT,
            require_at_jwt: false,
        }
    }

    /// Trusts tokens whose `iss` is exactly `issuer`; its keys come from the `jwks_uri` of its
    /// metadata (RFC 8414 `/.well-known/oauth-authorization-server`, falling back to OpenID
    /// Connect `/.well-known/openid-configuration`).
    #[must_use]
    pub fn issuer(mut self, issuer: &str) -> OAuthConfig {
        self.issuers.push(IssuerConfig {
            issuer: issuer.to_owned(),
            keys: KeySource::Discover,
        });
        self
    }

    /// Trusts tokens whose `iss` is exactly `issuer`, with keys from `jwks_uri` (no discovery).
    #[must_use]
    pub fn issuer_with_jwks_uri(mut self, issuer: &str, jwks_uri: &str) -> OAuthConfig {
        self.issuers.push(IssuerConfig {
            issuer: issuer.to_owned(),
            keys: KeySource::JwksUri(jwks_uri.to_owned()),
        });
        self
    }

    /// Trusts tokens whose `iss` is exactly `issuer`, with the keys of this JWKS document
    /// (RFC 7517 JSON), which is never fetched or refreshed: for pinned keys and for tests.
    #[must_use]
    pub fn issuer_with_jwks(mut self, issuer: &str, jwks_json: &str) -> OAuthConfig {
        self.issuers.push(IssuerConfig {
            issuer: issuer.to_owned(),
            keys: KeySource::Static(jwks_json.to_owned()),
        });
        self
    }

    /// Sets the clock-skew leeway for `exp` and `nbf` (default 60 s).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> OAuthConfig {
        self.leeway = leeway;
        self
    }

    /// Sets the signature algorithms accepted (default: all of [`Algorithm::ALL`]).
    #[must_use]
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> OAuthConfig {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Sets the shortest time between two key-set fetches for one issuer (default 30 s).
    ///
    /// A token with an unknown `kid` makes the verifier fetch the issuer's keys again, but at
    /// most once per this interval, so a stream of forged `kid`s costs the issuer one request
    /// per interval. Concurrent requests that miss share one fetch.
    #[must_use]
    pub fn min_refresh_interval(mut self, interval: Duration) -> OAuthConfig {
        self.min_refresh_interval = interval;
        self
    }

    /// Sets the age after which a key set is fetched again when next used (default 15 min),
    /// so keys an issuer withdraws stop verifying. While a refresh fails the old keys stay in
    /// use.
    #[must_use]
    pub fn max_key_set_age(mut self, age: Duration) -> OAuthConfig {
        self.max_key_set_age = age;
        self
    }

    /// Sets the timeout of one metadata or key-set request (default 10 s).
    #[must_use]
    pub fn http_timeout(mut self, timeout: Duration) -> OAuthConfig {
        self.http_timeout = timeout;
        self
    }

    /// Requires the `typ` header `at+jwt` of RFC 9068 JWT access tokens (default: not
    /// required, because several widely used issuers send `JWT`). The audience check already
    /// keeps ID tokens out, as their audience is a client id, never baton's resource URI.
    #[must_use]
    pub fn require_access_token_type(mut self, require: bool) -> OAuthConfig {
        self.require_at_jwt = require;
        self
    }

    /// The resource URI (the audience).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The trusted issuers, in configuration order (what Protected Resource Metadata lists as
    /// `authorization_servers`).
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.issuers.iter().map(|i| i.issuer.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_parse() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(Algorithm::from_jwt(alg.to_jwt()), Some(alg));
        }
        for bad in ["none", "HS256", "HS384", "HS512", "rs256", ""] {
            let err = bad.parse::<Algorithm>().unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::UnknownAlgorithm);
        }
        assert_eq!(Algorithm::from_jwt(jsonwebtoken::Algorithm::HS256), None);
    }
}
