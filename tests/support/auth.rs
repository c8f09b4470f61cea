//! Authentication in the end-to-end tests: API keys made by the real `baton token` command,
//! the real authorization server (oidc-provider, through
//! [`baton_devtools::OidcProvider`]), tokens no honest issuer would sign, the challenges the
//! specs ask for, and the check that logs hold no secret.

use std::{path::Path, process::Command, time::Duration};

use baton_devtools::{OidcInstall, OidcProvider, run_captured};
use serde_json::{Value, json};

use super::{
    installs::{clients_dir, or_skip},
    server::run_baton,
};

/// Every scope baton knows, as a `scope` parameter lists them.
pub const ALL_SCOPES: &str = "research:read research:write tools:search";

/// The `Authorization` header value that presents `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// An API key made by `baton token create`.
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// The whole key, as printed once (`baton_<id>_<secret and checksum>`).
    pub key: String,
    /// Its id (what `baton token list` shows and `baton token revoke` takes).
    pub id: String,
    /// The principal it acts for, as baton names it (`key:<name>`).
    pub principal: String,
}

impl ApiKey {
    /// The part of the key after its id: the secret (and checksum), which must never be
    /// shown anywhere.
    pub fn secret(&self) -> &str {
        &self.key[format!("baton_{}_", self.id).len()..]
    }
}

/// Runs `baton token create --database-url URL --principal NAME [--scope …] [--expires …]`
/// and checks what it prints: the key alone on stdout, the details on stderr.
pub fn create_api_key(
    database_url: &str,
    principal: &str,
    scopes: &[&str],
    expires: Option<&str>,
) -> ApiKey {
    let joined = scopes.join(",");
    let mut args = vec![
        "token",
        "create",
        "--database-url",
        database_url,
        "--principal",
        principal,
    ];
    if !scopes.is_empty() {
        args.extend(["--scope", &joined]);
    }
    if let Some(expires) = expires {
        args.extend(["--expires", expires]);
    }
    let out = run_baton(&args);
    assert!(
        out.status.success(),
        "baton token create failed ({}): {}",
        out.status,
        out.stderr
    );
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "the key alone on stdout: {:?}",
        out.stdout
    );
    let key = out.stdout.trim().to_owned();
    let id = key
        .strip_prefix("baton_")
        .and_then(|rest| rest.split('_').next())
        .unwrap_or_else(|| panic!("not a baton API key: {key:?}"))
        .to_owned();
    assert!(
        out.stderr.contains(&format!(
            "created API key {id} for principal key:{principal}"
        )),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(&key[10..]),
        "the key is shown on stdout only"
    );
    ApiKey {
        key,
        id,
        principal: format!("key:{principal}"),
    }
}

/// `baton token revoke ID`; returns what it printed.
pub fn revoke_api_key(database_url: &str, id: &str) -> String {
    let out = run_baton(&["token", "revoke", "--database-url", database_url, id]);
    assert!(
        out.status.success(),
        "baton token revoke failed ({}): {}",
        out.status,
        out.stderr
    );
    out.stdout
}

/// `baton token list`'s table.
pub fn list_api_keys(database_url: &str) -> String {
    let out = run_baton(&["token", "list", "--database-url", database_url]);
    assert!(
        out.status.success(),
        "baton token list failed: {}",
        out.stderr
    );
    out.stdout
}

/// oidc-provider installed and running on 127.0.0.1 with its keys in `dir`; `None` when it
/// cannot be installed and the test is skipped (a failure under CI). Installed but not
/// starting is a failure everywhere.
pub async fn start_provider(dir: &Path) -> Option<(OidcInstall, OidcProvider)> {
    let install = tokio::task::spawn_blocking(OidcInstall::install)
        .await
        .expect("install task");
    let install = or_skip("oidc-provider (npm)", install)?;
    let keys = dir.join("provider-keys.json");
    let started = install.clone();
    let provider = tokio::task::spawn_blocking(move || OidcProvider::start(&started, &keys, 0))
        .await
        .expect("provider task")
        .unwrap_or_else(|e| panic!("the installed oidc-provider starts: {e}"));
    Some((install, provider))
}

/// Restarts `provider` on its port with a new signing key first (key rotation).
pub async fn rotate_provider_key(provider: OidcProvider) -> OidcProvider {
    tokio::task::spawn_blocking(move || {
        let mut provider = provider;
        provider.restart_with_new_key().map(|()| provider)
    })
    .await
    .expect("restart task")
    .unwrap_or_else(|e| panic!("the provider restarts with a new key: {e}"))
}

/// `token` with its header and claims unchanged, signed by a fresh key of the same
/// algorithm that no issuer publishes (`tests/clients/oidc/resign.mjs`, with `jose`).
pub fn resigned(install: &OidcInstall, token: &str) -> String {
    let out = run_captured(
        Command::new(install.node())
            .arg(clients_dir().join("oidc/resign.mjs"))
            .arg("--modules")
            .arg(install.modules())
            .args(["--token", token]),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("resign.mjs: {e}"));
    let forged = out.stdout.trim().to_owned();
    assert_eq!(
        segment(&forged, 0),
        segment(token, 0),
        "the forged token keeps the header"
    );
    assert_eq!(
        segment(&forged, 1),
        segment(token, 1),
        "the forged token keeps the claims"
    );
    assert_ne!(segment(&forged, 2), segment(token, 2));
    forged
}

/// `token`'s claims with the header `{"alg": "none", …}` (its `typ` and `kid` kept) and no
/// signature: RFC 7519 §6's unsecured JWT.
pub fn unsigned(token: &str) -> String {
    let header = decode_segment(token, 0);
    let none = json!({"alg": "none", "typ": header["typ"], "kid": header["kid"]});
    let encoded = data_encoding::BASE64URL_NOPAD.encode(none.to_string().as_bytes());
    format!("{encoded}.{}.", segment(token, 1))
}

/// The decoded header (segment 0) or claims (segment 1) of a compact JWT.
pub fn decode_segment(token: &str, index: usize) -> Value {
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(segment(token, index).as_bytes())
        .unwrap_or_else(|e| panic!("JWT segment {index} is not base64url: {e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("JWT segment {index}: {e}"))
}

/// Segment `index` of a compact JWT.
pub fn segment(token: &str, index: usize) -> &str {
    token
        .split('.')
        .nth(index)
        .unwrap_or_else(|| panic!("a JWT has 3 segments: {token:?}"))
}

/// The 401 challenge for a request without a token (RFC 6750 §3, MCP authorization):
/// `Bearer resource_metadata="…", scope="…"`, without `resource_metadata` when no
/// authorization server is configured (API keys alone).
pub fn missing_token_challenge(resource_metadata: Option<&str>) -> String {
    let mut params = Vec::new();
    if let Some(url) = resource_metadata {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    params.push(format!("scope=\"{ALL_SCOPES}\""));
    format!("Bearer {}", params.join(", "))
}

/// The 401 challenge for a token that was presented and refused (RFC 6750 §3.1
/// `invalid_token`): `Bearer error="invalid_token", error_description="…",
/// resource_metadata="…", scope="…"`.
pub fn invalid_token_challenge(description: &str, resource_metadata: Option<&str>) -> String {
    let mut params = vec![
        "error=\"invalid_token\"".to_owned(),
        format!("error_description=\"{description}\""),
    ];
    if let Some(url) = resource_metadata {
        params.push(format!("resource_metadata=\"{url}\""));
    }
    params.push(format!("scope=\"{ALL_SCOPES}\""));
    format!("Bearer {}", params.join(", "))
}

/// The 403 challenge for a call the token's scopes do not cover (RFC 6750 §3.1
/// `insufficient_scope`, MCP authorization): `Bearer error="insufficient_scope",
/// scope="<every scope needed>", resource_metadata="…"`.
pub fn insufficient_scope_challenge(needed: &str, resource_metadata: Option<&str>) -> String {
    let mut challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\"");
    if let Some(url) = resource_metadata {
        challenge.push_str(&format!(", resource_metadata=\"{url}\""));
    }
    challenge
}

/// Something that must never appear in a log: what it is, and its text.
pub struct Secret {
    what: String,
    text: String,
}

impl Secret {
    /// An API key and, separately, its secret part.
    pub fn api_key(key: &ApiKey) -> [Secret; 2] {
        [
            Secret::new(format!("the API key of {}", key.principal), &key.key),
            Secret::new(
                format!("the secret part of the API key of {}", key.principal),
                key.secret(),
            ),
        ]
    }

    /// A bearer token and, separately, its signature.
    pub fn token(what: &str, token: &str) -> [Secret; 2] {
        [
            Secret::new(format!("the token {what}"), token),
            Secret::new(
                format!("the signature of the token {what}"),
                segment(token, 2),
            ),
        ]
    }

    /// A handle and, separately, its MAC: the last 19 symbols of a `task_` handle encode
    /// only its 96-bit tag (see [`crate::support::handle`]).
    pub fn handle(handle: &str) -> [Secret; 2] {
        [
            Secret::new("a full handle", handle),
            Secret::new("a handle's MAC", &handle[handle.len().saturating_sub(19)..]),
        ]
    }

    fn new(what: impl Into<String>, text: &str) -> Secret {
        assert!(text.len() >= 16, "too short to search for: {text:?}");
        Secret {
            what: what.into(),
            text: text.to_owned(),
        }
    }
}

/// Asserts that `logs` (a server's complete logs) hold none of `secrets`, and are not empty
/// (so the check looked at something).
pub fn assert_no_secrets(logs: &str, secrets: &[Secret]) {
    assert!(
        logs.lines().count() > 3,
        "the logs to check are (nearly) empty:\n{logs}"
    );
    for secret in secrets {
        if let Some(line) = logs.lines().find(|l| l.contains(&secret.text)) {
            panic!("{} is in the logs: {line}", secret.what);
        }
    }
}
