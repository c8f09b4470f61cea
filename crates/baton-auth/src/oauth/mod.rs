//! OAuth 2.1 resource server: verifying JWT access tokens (RFC 9068) from trusted issuers.

mod config;
mod fetch;
mod keys;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Validation, errors::ErrorKind as JwtErrorKind};
use serde::Deserialize;
use serde_json::{Map, Value};

pub use self::config::{Algorithm, OAuthConfig};
use self::{
    config::KeySource,
    fetch::Fetcher,
    keys::{IssuerKeys, RefreshPolicy},
};
use crate::{
    bearer::MAX_TOKEN_LEN,
    error::{Error, ErrorKind},
    identity::Identity,
    scope::Scopes,
    uri,
};

/// The longest `sub` accepted, in bytes.
const MAX_SUBJECT_LEN: usize = 256;

/// Verifies JWT access tokens: the signature with the issuer's published keys, then `iss`,
/// `aud`, `exp`, `nbf` and `sub`, and maps a good token to an [`Identity`].
///
/// Build one at start-up and share it (it is `Send + Sync`; its key sets are cached inside).
///
/// # What is checked, in order
///
/// 1. Length (at most [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) bytes) and JWT shape.
/// 2. `alg` is one of the configured [`Algorithm`]s (never `none`, never `HS*`); with
///    [`OAuthConfig::require_access_token_type`], `typ` is `at+jwt`.
/// 3. `iss` is exactly one of the configured issuers. Nothing is fetched for any other.
/// 4. The issuer publishes a key for the token's `kid` and `alg` (see
///    [`OAuthConfig::min_refresh_interval`] for when the keys are fetched again), and the
///    signature verifies with it. Header parameters that name other keys (`jku`, `jwk`,
///    `x5u`, `x5c`) are ignored.
/// 5. `aud` (a string or an array) contains the resource URI, byte for byte.
/// 6. `exp` is present and `now < exp + leeway`; `nbf`, if present, is `<= now + leeway`.
/// 7. `sub` is a non-empty string of at most 256 bytes; `scope` (a space-separated string)
///    and `scp` (an array of strings, or a string) give the scopes, unknown names ignored.
pub struct OAuthVerifier {
    config: OAuthConfig,
    issuers: Vec<IssuerVerifier>,
    fetcher: Fetcher,
    policy: RefreshPolicy,
}

struct IssuerVerifier {
    keys: IssuerKeys,
    /// One per accepted algorithm: the library wants every algorithm of a `Validation` to be
    /// of the key's family.
    validations: Vec<(Algorithm, Validation)>,
}

impl OAuthVerifier {
    /// Checks `config` and builds a verifier. Nothing is fetched yet (see
    /// [`OAuthVerifier::prefetch`]).
    ///
    /// Errors: [`ErrorKind::InvalidResourceUri`], [`ErrorKind::NoIssuers`],
    /// [`ErrorKind::InvalidIssuer`], [`ErrorKind::InvalidJwksUri`],
    /// [`ErrorKind::InvalidKeySet`], [`ErrorKind::NoAlgorithms`], [`ErrorKind::HttpClient`].
    pub fn new(config: OAuthConfig) -> Result<OAuthVerifier, Error> {
        uri::resource(&config.resource)?;
        if config.issuers.is_empty() {
            return Err(Error::new(ErrorKind::NoIssuers));
        }
        if config.algorithms.is_empty() {
            return Err(Error::new(ErrorKind::NoAlgorithms));
        }
        let mut issuers = Vec::with_capacity(config.issuers.len());
        for issuer in &config.issuers {
            uri::issuer(&issuer.issuer)?;
            let keys = match &issuer.keys {
                KeySource::Discover => IssuerKeys::remote(issuer.issuer.clone(), None),
                KeySource::JwksUri(jwks) => {
                    IssuerKeys::remote(issuer.issuer.clone(), Some(uri::jwks(jwks)?))
                }
                KeySource::Static(json) => {
                    IssuerKeys::fixed(issuer.issuer.clone(), json).map_err(|e| {
                        Error::with_detail(
                            ErrorKind::InvalidKeySet,
                            format!("the keys configured for issuer {}", issuer.issuer),
                        )
                        .with_source(e.to_string())
                    })?
                }
            };
            issuers.push(IssuerVerifier {
                validations: config
                    .algorithms
                    .iter()
                    .map(|alg| (*alg, validation(&config, &issuer.issuer, *alg)))
                    .collect(),
                keys,
            });
        }
        Ok(OAuthVerifier {
            fetcher: Fetcher::new(config.http_timeout)?,
            policy: RefreshPolicy {
                min_interval: config.min_refresh_interval,
                max_age: config.max_key_set_age,
            },
            issuers,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OAuthConfig {
        &self.config
    }

    /// Fetches every issuer's keys now (a server calls it at start-up so the first request
    /// does not wait). Failures are not fatal: keys are fetched again on use. Returns the
    /// first failure, after trying every issuer.
    pub async fn prefetch(&self) -> Result<(), Error> {
        let mut first_error = None;
        for issuer in &self.issuers {
            if let Err(e) = issuer.keys.prefetch(self.policy, &self.fetcher).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Verifies `token` at `now` and returns the identity it proves.
    ///
    /// Errors are the token kinds of [`ErrorKind`] (401), or
    /// [`ErrorKind::KeySetUnavailable`] (503) when the issuer's keys cannot be fetched.
    pub async fn verify(&self, token: &str, now: SystemTime) -> Result<Identity, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::new(ErrorKind::TokenTooLong));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| header_error(token, e))?;
        let alg = Algorithm::from_jwt(header.alg)
            .filter(|alg| self.config.algorithms.contains(alg))
            .ok_or_else(|| Error::new(ErrorKind::UnsupportedAlgorithm))?;
        if self.config.require_at_jwt
            && !header.typ.as_deref().is_some_and(|typ| {
                typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
            })
        {
            return Err(Error::new(ErrorKind::WrongTokenType));
        }

        // Only to choose whose keys to verify with; `iss` is checked again after the
        // signature.
        #[derive(Deserialize)]
        struct Routing {
            iss: Option<Value>,
        }
        let routing: Routing = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| Error::new(ErrorKind::MalformedToken))?;
        let iss = match routing.iss {
            None => return Err(Error::new(ErrorKind::MissingClaim("iss"))),
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(Error::new(ErrorKind::InvalidClaim("iss"))),
        };
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.keys.issuer() == iss)
            .ok_or_else(|| Error::new(ErrorKind::UnknownIssuer))?;

        let validation = issuer
            .validations
            .iter()
            .find_map(|(a, v)| (*a == alg).then_some(v))
            .ok_or_else(|| Error::new(ErrorKind::UnsupportedAlgorithm))?;
        let kid = header.kid.as_deref();
        let keys = issuer
            .keys
            .keys_for(kid, alg, self.policy, &self.fetcher)
            .await?;
        let mut failure = Error::new(ErrorKind::UnknownSigningKey);
        for candidate in keys.candidates(kid, alg) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &candidate.key, validation) {
                Ok(data) => return self.identity(issuer.keys.issuer(), &data.claims, now),
                Err(e) => {
                    failure = jwt_error(e);
                    // Another key (without a `kid` to choose by) may still verify it.
                    if failure.kind() != &ErrorKind::BadSignature {
                        return Err(failure);
                    }
                }
            }
        }
        Err(failure)
    }

    /// The identity of verified claims, after the time and subject checks.
    fn identity(
        &self,
        issuer: &str,
        claims: &Map<String, Value>,
        now: SystemTime,
    ) -> Result<Identity, Error> {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(Error::new(ErrorKind::InvalidClaim("iss")));
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let leeway = self.config.leeway.as_secs();
        let exp = numeric_date(claims, "exp")?.ok_or(Error::new(ErrorKind::MissingClaim("exp")))?;
        if now >= exp.saturating_add(leeway) {
            return Err(Error::new(ErrorKind::TokenExpired));
        }
        if let Some(nbf) = numeric_date(claims, "nbf")?
            && nbf > now.saturating_add(leeway)
        {
            return Err(Error::new(ErrorKind::TokenNotYetValid));
        }
        let subject = match claims.get("sub") {
            None => return Err(Error::new(ErrorKind::MissingClaim("sub"))),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_LEN => s,
            Some(_) => return Err(Error::new(ErrorKind::InvalidClaim("sub"))),
        };
        let mut scopes = match claims.get("scope") {
            None => Scopes::empty(),
            Some(Value::String(s)) => Scopes::from_claim(s),
            Some(_) => return Err(Error::new(ErrorKind::InvalidClaim("scope"))),
        };
        match claims.get("scp") {
            None => {}
            Some(Value::String(s)) => scopes = scopes.union(Scopes::from_claim(s)),
            Some(Value::Array(items)) => {
                for item in items {
                    let name = item
                        .as_str()
                        .ok_or_else(|| Error::new(ErrorKind::InvalidClaim("scp")))?;
                    scopes = scopes.union(Scopes::from_claim(name));
                }
            }
            Some(_) => return Err(Error::new(ErrorKind::InvalidClaim("scp"))),
        }
        let client_id = claims
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok(Identity::oauth(issuer, subject, scopes, client_id))
    }
}

impl std::fmt::Debug for OAuthVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthVerifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The library's checks for one issuer and algorithm: signature, `iss`, `aud` and the presence of `exp`,
/// `iss`, `aud` and `sub`. Times are checked by [`OAuthVerifier::identity`] against the
/// caller's `now`.
fn validation(config: &OAuthConfig, issuer: &str, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg.to_jwt());
    v.set_audience(&[config.resource.as_str()]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = true;
    v.leeway = 0;
    v
}

/// A NumericDate claim (RFC 7519 §2) in whole seconds; `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| Error::new(ErrorKind::InvalidClaim(name))),
        Some(_) => Err(Error::new(ErrorKind::InvalidClaim(name))),
    }
}

/// Why a header did not parse. `alg: none` (or any `alg` the library does not know) is an
/// unsupported algorithm, not a malformed token.
fn header_error(token: &str, e: jsonwebtoken::errors::Error) -> Error {
    if matches!(
        e.kind(),
        JwtErrorKind::InvalidAlgorithmName | JwtErrorKind::Json(_)
    ) && let Some(header) = token.split('.').next()
        && let Ok(bytes) = data_encoding::BASE64URL_NOPAD.decode(header.as_bytes())
        && serde_json::from_slice::<Map<String, Value>>(&bytes)
            .is_ok_and(|header| header.get("alg").is_some_and(Value::is_string))
    {
        return Error::new(ErrorKind::UnsupportedAlgorithm);
    }
    Error::new(ErrorKind::MalformedToken)
}

/// The kind of a verification failure of the JWT library.
fn jwt_error(e: jsonwebtoken::errors::Error) -> Error {
    use JwtErrorKind as J;
    let kind = match e.kind() {
        J::InvalidSignature
        | J::InvalidEcdsaKey
        | J::InvalidEddsaKey
        | J::InvalidRsaKey(_)
        | J::InvalidKeyFormat
        | J::Provider(_) => ErrorKind::BadSignature,
        J::InvalidAudience => ErrorKind::WrongAudience,
        J::InvalidIssuer => ErrorKind::UnknownIssuer,
        J::MissingRequiredClaim(claim) => ErrorKind::MissingClaim(claim_name(claim)),
        J::InvalidClaimFormat(claim) => ErrorKind::InvalidClaim(claim_name(claim)),
        J::ExpiredSignature => ErrorKind::TokenExpired,
        J::ImmatureSignature => ErrorKind::TokenNotYetValid,
        J::InvalidAlgorithm
        | J::UnsupportedAlgorithm
        | J::InvalidAlgorithmName
        | J::MissingAlgorithm => ErrorKind::UnsupportedAlgorithm,
        _ => ErrorKind::MalformedToken,
    };
    Error::new(kind)
}

fn claim_name(claim: &str) -> &'static str {
    ["exp", "nbf", "iss", "aud", "sub"]
        .into_iter()
        .find(|c| *c == claim)
        .unwrap_or("registered")
}
