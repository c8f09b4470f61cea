use std::{fmt, sync::Arc};

use http::StatusCode;

use crate::{
    api_key::{API_KEY_PREFIX, MAX_PRINCIPAL_NAME_LEN},
    bearer::MAX_TOKEN_LEN,
    scope::Scopes,
};

/// The error returned by every fallible operation of this crate.
///
/// Its [`kind`](Error::kind) tells what went wrong; [`status`](Error::status) and
/// [`bearer_error`](Error::bearer_error) tell an HTTP server how to answer.
///
/// Neither `Display` nor `Debug` ever contains a bearer token, an API key's secret or a key
/// hash: at most a key id, a URL from the configuration, a claim name or a scope. Values taken
/// from an unverified token (its issuer, its audience) are not echoed either, so the text is
/// safe to log and to send back in an `error_description`.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    detail: Option<Box<str>>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// The kind of an [`Error`].
///
/// The first group comes from authenticating a request (401, or 400 for a malformed header),
/// then the scope check (403), then failures of what authentication depends on (503), and last
/// the errors of building a configuration or parsing stored values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request has no `Authorization` header.
    MissingCredentials,
    /// The `Authorization` header uses a scheme other than `Bearer` (such as `Basic`).
    UnsupportedScheme,
    /// The request has more than one `Authorization` header, or the `Bearer` credentials are
    /// not a single RFC 6750 `b64token`.
    MalformedAuthorization,
    /// The bearer token is longer than [`MAX_TOKEN_LEN`](crate::MAX_TOKEN_LEN) bytes.
    TokenTooLong,
    /// An API key was presented but this server does not accept API keys.
    ApiKeysNotAccepted,
    /// A JWT was presented but this server does not accept OAuth access tokens.
    OAuthNotAccepted,
    /// The bearer value starts like an API key but is not one (length, alphabet, checksum).
    MalformedApiKey,
    /// No API key has this id, or its secret does not match. Both give this one answer.
    UnknownApiKey,
    /// The API key is authentic but was revoked.
    ApiKeyRevoked,
    /// The API key is authentic but has expired.
    ApiKeyExpired,
    /// The bearer value is not a JWT: wrong number of parts, bad base64url, or a header or
    /// claims set that is not JSON.
    MalformedToken,
    /// The token's `alg` is not one this server accepts (`none` and `HS*` never are).
    UnsupportedAlgorithm,
    /// The token's `typ` header is not `at+jwt` while the configuration requires it.
    WrongTokenType,
    /// The token's `iss` is missing or is not one of the configured issuers.
    UnknownIssuer,
    /// The issuer publishes no key with the token's `kid` (checked again after a refresh,
    /// when one is allowed).
    UnknownSigningKey,
    /// The signature does not verify with the issuer's key.
    BadSignature,
    /// The token's `aud` does not contain this server's resource URI.
    WrongAudience,
    /// The token's `exp` has passed (more than the leeway ago).
    TokenExpired,
    /// The token's `nbf` is in the future (by more than the leeway).
    TokenNotYetValid,
    /// A claim this server requires is absent; the claim's name.
    MissingClaim(&'static str),
    /// A claim has the wrong type or an unacceptable value; the claim's name.
    InvalidClaim(&'static str),
    /// The caller is authenticated but lacks a scope the operation needs.
    InsufficientScope {
        /// Every scope the operation needs (what the 403 challenge names).
        needed: Scopes,
        /// The needed scopes the caller's grant does not imply.
        missing: Scopes,
    },
    /// An issuer's metadata or key set could not be fetched or understood, so no token of
    /// that issuer can be checked now.
    KeySetUnavailable,
    /// The API key directory (the store) could not be read.
    DirectoryUnavailable,
    /// The resource URI is not an absolute `http(s)` URI without a fragment.
    InvalidResourceUri,
    /// An issuer identifier is not an `https` URI (or `http` on a loopback host) without
    /// query or fragment.
    InvalidIssuer,
    /// A `jwks_uri` is not an `https` URI (or `http` on a loopback host).
    InvalidJwksUri,
    /// A configured key set is not a JWKS with at least one usable public key.
    InvalidKeySet,
    /// An OAuth configuration names no issuer.
    NoIssuers,
    /// An OAuth configuration allows no signature algorithm.
    NoAlgorithms,
    /// An authenticator was built with neither API keys nor OAuth.
    NoMethods,
    /// A principal name for an API key is empty, too long, or has a character outside
    /// `A-Z a-z 0-9 . _ - @ +`.
    InvalidPrincipalName,
    /// A scope name is not one of the [`Scope`](crate::Scope)s.
    UnknownScope,
    /// A signature algorithm name is not one of the accepted asymmetric algorithms.
    UnknownAlgorithm,
    /// A stored API key id is not 16 characters of the key alphabet.
    InvalidApiKeyId,
    /// A stored key hash is not 64 lowercase hex digits.
    InvalidKeyHash,
    /// The HTTP client for fetching key sets could not be built.
    HttpClient,
}

/// The `error` code of an RFC 6750 `Bearer` challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BearerError {
    /// `invalid_request` (HTTP 400): the request is malformed.
    InvalidRequest,
    /// `invalid_token` (HTTP 401): the token is expired, revoked, malformed or invalid.
    InvalidToken,
    /// `insufficient_scope` (HTTP 403): the token lacks a scope the request needs.
    InsufficientScope,
}

impl BearerError {
    /// The code as it appears in `error="…"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            detail: None,
            source: None,
        }
    }

    /// An error with a non-secret detail appended to its message.
    pub(crate) fn with_detail(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error {
            kind,
            detail: Some(detail.into().into_boxed_str()),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        self.source = Some(Arc::from(source.into()));
        self
    }

    /// Returns the kind of this error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The HTTP status a server answers with: 400 for a malformed `Authorization` header,
    /// 401 for missing or invalid credentials, 403 for an insufficient scope, 503 when a key
    /// set or the key directory is unavailable, 500 for configuration errors (which a server
    /// meets at start-up, never per request).
    pub fn status(&self) -> StatusCode {
        use ErrorKind as K;
        match self.kind {
            K::MalformedAuthorization => StatusCode::BAD_REQUEST,
            K::MissingCredentials
            | K::UnsupportedScheme
            | K::TokenTooLong
            | K::ApiKeysNotAccepted
            | K::OAuthNotAccepted
            | K::MalformedApiKey
            | K::UnknownApiKey
            | K::ApiKeyRevoked
            | K::ApiKeyExpired
            | K::MalformedToken
            | K::UnsupportedAlgorithm
            | K::WrongTokenType
            | K::UnknownIssuer
            | K::UnknownSigningKey
            | K::BadSignature
            | K::WrongAudience
            | K::TokenExpired
            | K::TokenNotYetValid
            | K::MissingClaim(_)
            | K::InvalidClaim(_) => StatusCode::UNAUTHORIZED,
            K::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            K::KeySetUnavailable | K::DirectoryUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            K::InvalidResourceUri
            | K::InvalidIssuer
            | K::InvalidJwksUri
            | K::InvalidKeySet
            | K::NoIssuers
            | K::NoAlgorithms
            | K::NoMethods
            | K::InvalidPrincipalName
            | K::UnknownScope
            | K::UnknownAlgorithm
            | K::InvalidApiKeyId
            | K::InvalidKeyHash
            | K::HttpClient => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 `error` code for the challenge, if any. A request without credentials (or
    /// with another scheme) gets none, as RFC 6750 §3.1 asks; so do 503s and configuration
    /// errors.
    pub fn bearer_error(&self) -> Option<BearerError> {
        match self.status() {
            StatusCode::BAD_REQUEST => Some(BearerError::InvalidRequest),
            StatusCode::FORBIDDEN => Some(BearerError::InsufficientScope),
            StatusCode::UNAUTHORIZED => match self.kind {
                ErrorKind::MissingCredentials | ErrorKind::UnsupportedScheme => None,
                _ => Some(BearerError::InvalidToken),
            },
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if let Some(detail) = &self.detail {
            d.field("detail", detail);
        }
        if let Some(source) = &self.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind as K;
        match self {
            K::MissingCredentials => f.write_str("the request has no Authorization header"),
            K::UnsupportedScheme => f.write_str(
                "the Authorization header uses a scheme other than Bearer, the only one accepted",
            ),
            K::MalformedAuthorization => f.write_str(
                "malformed Authorization header: expected exactly one header \
                 'Bearer <token>' with a token of the characters A-Z a-z 0-9 - . _ ~ + / =",
            ),
            K::TokenTooLong => write!(
                f,
                "the bearer token is longer than the {MAX_TOKEN_LEN} bytes accepted"
            ),
            K::ApiKeysNotAccepted => f.write_str("this server does not accept API keys"),
            K::OAuthNotAccepted => {
                f.write_str("this server does not accept OAuth access tokens, only API keys")
            }
            K::MalformedApiKey => write!(
                f,
                "malformed API key: expected {API_KEY_PREFIX}, a 16-character id, '_' and \
                 39 characters, all from 0-9 a-z without i l o u, with a matching checksum"
            ),
            K::UnknownApiKey => f.write_str("unknown API key"),
            K::ApiKeyRevoked => f.write_str("the API key has been revoked"),
            K::ApiKeyExpired => f.write_str("the API key has expired"),
            K::MalformedToken => f.write_str("the access token is not a well-formed JWT"),
            K::UnsupportedAlgorithm => f.write_str(
                "the access token's signature algorithm (alg) is not one this server accepts",
            ),
            K::WrongTokenType => {
                f.write_str("the access token's typ header is not at+jwt (RFC 9068)")
            }
            K::UnknownIssuer => {
                f.write_str("the access token's issuer (iss) is not one this server accepts")
            }
            K::UnknownSigningKey => f.write_str(
                "the access token is signed with a key (kid) its issuer does not publish",
            ),
            K::BadSignature => f.write_str("the access token's signature does not verify"),
            K::WrongAudience => f.write_str(
                "the access token's audience (aud) does not include this server's resource URI",
            ),
            K::TokenExpired => f.write_str("the access token has expired"),
            K::TokenNotYetValid => f.write_str("the access token is not valid yet (nbf)"),
            K::MissingClaim(claim) => {
                write!(
                    f,
                    "the access token has no '{claim}' claim, which is required"
                )
            }
            K::InvalidClaim(claim) => {
                write!(f, "the access token's '{claim}' claim has an invalid value")
            }
            K::InsufficientScope { needed, missing } => write!(
                f,
                "insufficient scope: the request needs '{needed}', the token lacks '{missing}'"
            ),
            K::KeySetUnavailable => {
                f.write_str("the token issuer's signing keys cannot be fetched now; retry later")
            }
            K::DirectoryUnavailable => {
                f.write_str("the API key directory cannot be read now; retry later")
            }
            K::InvalidResourceUri => f.write_str(
                "invalid resource URI: expected an absolute http or https URI without a fragment",
            ),
            K::InvalidIssuer => f.write_str(
                "invalid issuer: expected an https URI (http only on a loopback host) \
                 without query or fragment",
            ),
            K::InvalidJwksUri => f.write_str(
                "invalid jwks_uri: expected an https URI (http only on a loopback host)",
            ),
            K::InvalidKeySet => {
                f.write_str("invalid key set: expected a JWKS with at least one usable public key")
            }
            K::NoIssuers => f.write_str("the OAuth configuration names no issuer"),
            K::NoAlgorithms => f.write_str("the OAuth configuration allows no signature algorithm"),
            K::NoMethods => f.write_str(
                "the authenticator accepts neither API keys nor OAuth tokens; enable at least one",
            ),
            K::InvalidPrincipalName => write!(
                f,
                "invalid principal name: expected 1 to {MAX_PRINCIPAL_NAME_LEN} characters \
                 of A-Z a-z 0-9 . _ - @ +"
            ),
            K::UnknownScope => write!(
                f,
                "unknown scope: the scopes are {}",
                Scopes::all().to_string().replace(' ', ", ")
            ),
            K::UnknownAlgorithm => f.write_str(
                "unknown signature algorithm: accepted are RS256, RS384, RS512, PS256, PS384, \
                 PS512, ES256, ES384 and EdDSA",
            ),
            K::InvalidApiKeyId => {
                f.write_str("invalid API key id: expected 16 characters of 0-9 a-z without i l o u")
            }
            K::InvalidKeyHash => {
                f.write_str("invalid API key hash: expected 64 lowercase hex digits")
            }
            K::HttpClient => f.write_str("the HTTP client for fetching key sets cannot be built"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Scope;

    #[test]
    fn messages_are_precise() {
        assert_eq!(
            Error::new(ErrorKind::MissingClaim("sub")).to_string(),
            "the access token has no 'sub' claim, which is required"
        );
        let needed = Scopes::from_iter([Scope::ResearchWrite, Scope::ToolsSearch]);
        let missing = Scopes::from_iter([Scope::ResearchWrite]);
        assert_eq!(
            Error::new(ErrorKind::InsufficientScope { needed, missing }).to_string(),
            "insufficient scope: the request needs 'research:write tools:search', \
             the token lacks 'research:write'"
        );
        assert_eq!(
            Error::new(ErrorKind::UnknownScope).to_string(),
            "unknown scope: the scopes are research:read, research:write, tools:search"
        );
        assert_eq!(
            Error::with_detail(ErrorKind::InvalidIssuer, "'ftp://x' has scheme ftp").to_string(),
            "invalid issuer: expected an https URI (http only on a loopback host) without \
             query or fragment: 'ftp://x' has scheme ftp"
        );
        assert_eq!(
            Error::new(ErrorKind::TokenTooLong).to_string(),
            "the bearer token is longer than the 8192 bytes accepted"
        );
    }

    #[test]
    fn statuses_and_codes_follow_rfc_6750() {
        let cases = [
            (ErrorKind::MissingCredentials, 401, None),
            (ErrorKind::UnsupportedScheme, 401, None),
            (
                ErrorKind::MalformedAuthorization,
                400,
                Some(BearerError::InvalidRequest),
            ),
            (
                ErrorKind::TokenExpired,
                401,
                Some(BearerError::InvalidToken),
            ),
            (
                ErrorKind::UnknownApiKey,
                401,
                Some(BearerError::InvalidToken),
            ),
            (
                ErrorKind::InsufficientScope {
                    needed: Scopes::all(),
                    missing: Scopes::all(),
                },
                403,
                Some(BearerError::InsufficientScope),
            ),
            (ErrorKind::KeySetUnavailable, 503, None),
            (ErrorKind::DirectoryUnavailable, 503, None),
            (ErrorKind::NoIssuers, 500, None),
        ];
        for (kind, status, code) in cases {
            let err = Error::new(kind);
            assert_eq!(err.status().as_u16(), status, "{kind:?}");
            assert_eq!(err.bearer_error(), code, "{kind:?}");
        }
    }

    #[test]
    fn is_send_sync_static_error() {
        fn check<T: std::error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
