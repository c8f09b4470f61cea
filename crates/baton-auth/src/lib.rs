/*!
Who is calling an HTTP MCP server: OAuth 2.1 access tokens, API keys, scopes, and the
HTTP answers (RFC 6750 challenges, RFC 9728 metadata) when the answer is no.

The crate knows nothing of MCP, of any store or of a web framework: it turns a request's
headers into an [`Identity`] (or an [`Error`] that says which status and challenge to send),
and leaves storing API key records to an [`ApiKeyDirectory`] the server implements.

# Pieces

* [`Identity`]: the caller's qualified principal (`oauth:<issuer>#<sub>` or `key:<name>`; two
  issuers never collide), its [`Scopes`] and how it authenticated.
* [`Scope`] and [`Scopes`]: `research:read`, `research:write` (implies read) and
  `tools:search`; parsed from a token's `scope`/`scp` claims, unknown names ignored;
  [`Scopes::missing`] tells what a grant lacks.
* [`OAuthVerifier`] (configured by [`OAuthConfig`]): an OAuth 2.1 resource server for JWT
  access tokens. Keys come from the issuer's metadata (RFC 8414, then OpenID Connect
  discovery) or a configured `jwks_uri`, are cached, and are fetched again on an unknown `kid`
  at most once per [`OAuthConfig::min_refresh_interval`] per issuer, concurrent misses sharing
  one fetch. It checks the signature (asymmetric algorithms only), `iss`, `aud` (baton's
  RFC 8707 resource URI), `exp`/`nbf` with leeway, and `sub`.
* API keys: [`NewApiKey::generate`] makes `baton_<id>_<secret><check>` keys (format and
  hashing are described in [`api_key`]); [`PresentedApiKey`] parses and verifies one in
  constant time; [`ApiKeyRecord`] is what a store keeps; [`CachedDirectory`] bounds how long a
  revocation takes to reach every instance (5 s by default).
* [`Authenticator`]: API keys and/or OAuth behind one
  [`authenticate(&HeaderMap)`](Authenticator::authenticate). The token comes only from the
  `Authorization: Bearer` header ([`bearer_token`]), never from the query string.
* [`ProtectedResource`] and [`Rejection`]: the Protected Resource Metadata document and the
  `WWW-Authenticate` challenges (401 with `resource_metadata` and `scope`, `invalid_token` when
  a token failed, 403 `insufficient_scope` naming every needed scope); [`AuthLayer`] wraps a
  tower service with all of it.

Nothing here logs or displays a token, a key secret or a key hash: errors say what failed, and
the `Debug` output of keys and hashes is redacted.

# Examples

Scopes and the hierarchy:

```
use baton_auth::{Scope, Scopes};

let granted = Scopes::from_claim("openid research:write");
assert!(granted.grants(Scope::ResearchRead));
let needed = Scopes::from_iter([Scope::ResearchRead, Scope::ToolsSearch]);
assert_eq!(granted.missing(needed).to_string(), "tools:search");
```

API keys: generate one (store the id and hash, show the key once), then check what a caller
presents:

```
use baton_auth::{ApiKeyRecord, NewApiKey, PresentedApiKey, Scopes};

let key = NewApiKey::generate();
assert!(key.reveal().starts_with("baton_"));
let record = ApiKeyRecord::new(&key, "ci-bot", Scopes::all(), chrono::Utc::now(), None)?;

let presented = PresentedApiKey::parse(key.reveal())?;
assert_eq!(presented.id(), &record.id);
let identity = record.authenticate(&presented, chrono::Utc::now())?;
assert_eq!(identity.principal(), "key:ci-bot");
# Ok::<(), baton_auth::Error>(())
```

OAuth access tokens. A real server discovers the issuer's keys
([`OAuthConfig::issuer`]); here the issuer's public key is configured directly, and the
"issuer" signs a token with its private key:

```
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use baton_auth::{ErrorKind, OAuthConfig, OAuthVerifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode, jwk::{Jwk, JwkSet}};

# tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
// The issuer's key pair and its published JWKS.
let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate()?.to_pkcs8v1()?;
let signing_key = EncodingKey::from_ed_der(pkcs8.as_ref());
let mut jwk = Jwk::from_encoding_key(&signing_key, Algorithm::EdDSA)?;
jwk.common.key_id = Some("key-1".into());
let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] })?;

let verifier = OAuthVerifier::new(
    OAuthConfig::new("https://baton.example.com/mcp")
        .issuer_with_jwks("https://auth.example.com", &jwks),
)?;

let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
let mut header = Header::new(Algorithm::EdDSA);
header.kid = Some("key-1".into());
let mut claims = serde_json::json!({
    "iss": "https://auth.example.com",
    "sub": "user-42",
    "aud": "https://baton.example.com/mcp",
    "exp": now + 300,
    "scope": "research:read tools:search",
});
let token = encode(&header, &claims, &signing_key)?;
let identity = verifier.verify(&token, SystemTime::now()).await?;
assert_eq!(identity.principal(), "oauth:https://auth.example.com#user-42");
assert_eq!(identity.scopes().to_string(), "research:read tools:search");

// A token for another resource is refused, and so is an expired one.
claims["aud"] = "https://other.example.com/mcp".into();
let other = encode(&header, &claims, &signing_key)?;
let err = verifier.verify(&other, SystemTime::now()).await.unwrap_err();
assert_eq!(err.kind(), &ErrorKind::WrongAudience);
let later = SystemTime::now() + Duration::from_secs(300 + 61);
let err = verifier.verify(&token, later).await.unwrap_err();
assert_eq!(err.kind(), &ErrorKind::TokenExpired);
# Ok::<(), Box<dyn std::error::Error>>(())
# })?;
# Ok::<(), Box<dyn std::error::Error>>(())
```

Wiring into an HTTP server: one [`Authenticator`] for the process, the [`AuthLayer`] in front
of the MCP endpoint (it runs before the body is read), and the metadata document at the
paths [`ProtectedResource::metadata_paths`] names:

```no_run
use std::sync::Arc;
use baton_auth::{AuthLayer, Authenticator, CachedDirectory, MemoryApiKeyDirectory,
                 OAuthConfig, OAuthVerifier, ProtectedResource};

# async fn wire() -> Result<(), baton_auth::Error> {
let resource = "https://baton.example.com/mcp";
let verifier = OAuthVerifier::new(OAuthConfig::new(resource).issuer("https://auth.example.com"))?;
verifier.prefetch().await.ok(); // warm the key cache; failures are retried on use
let auth = Arc::new(
    Authenticator::builder(ProtectedResource::new(resource)?)
        .oauth(verifier)
        .api_keys(CachedDirectory::new(MemoryApiKeyDirectory::new())) // the store, in baton
        .build()?,
);
let layer = AuthLayer::new(auth.clone());
let metadata = auth.protected_resource().metadata_json();
let paths = auth.protected_resource().metadata_paths();
# let _ = (layer, metadata, paths);
# Ok(())
# }
```
*/

#![deny(missing_docs)]

pub mod api_key;
mod authenticator;
mod bearer;
mod challenge;
mod error;
mod identity;
mod layer;
mod oauth;
mod scope;
mod uri;

pub use crate::api_key::directory::{
    ApiKeyDirectory, ApiKeyRecord, CachedDirectory, DirectoryError, MemoryApiKeyDirectory,
};
pub use crate::api_key::{
    API_KEY_PREFIX, ApiKeyId, KeyHash, MAX_PRINCIPAL_NAME_LEN, NewApiKey, PresentedApiKey,
    looks_like_api_key, validate_principal_name,
};
pub use crate::authenticator::{Authenticator, AuthenticatorBuilder};
pub use crate::bearer::{MAX_TOKEN_LEN, bearer_token};
pub use crate::challenge::{METADATA_WELL_KNOWN, ProtectedResource, Rejection};
pub use crate::error::{BearerError, Error, ErrorKind};
pub use crate::identity::{AuthMethod, Identity, principal_log_id};
pub use crate::layer::{AuthLayer, AuthService};
pub use crate::oauth::{Algorithm, OAuthConfig, OAuthVerifier};
pub use crate::scope::{Scope, Scopes};
