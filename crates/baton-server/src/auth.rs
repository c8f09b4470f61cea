//! Who is calling over HTTP, checked by the layers around the MCP endpoint: authentication from the
//! request's headers (before its body is read), the scopes each tool needs (checked once the
//! JSON-RPC method and tool name are known), and the Protected Resource Metadata documents.
//!
//! The principal an authenticated request acts for is its [`Identity`]'s qualified principal
//! (`oauth:<issuer>#<sub>` or `key:<name>`); with `--auth none` it is `anonymous`, with
//! every scope. stdio callers act as `--stdio-principal` and never reach this module.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use anyhow::Context;
use async_trait::async_trait;
use axum::{
    body::Body,
    extract::Request,
    response::{IntoResponse, Response},
};
use baton_auth::{
    ApiKeyDirectory, ApiKeyId, ApiKeyRecord, Authenticator, CachedDirectory, DirectoryError,
    Identity, KeyHash, OAuthConfig, OAuthVerifier, ProtectedResource, Scope, Scopes,
};
use baton_store::{KeyStore, StoredApiKey};

use crate::{
    config::{AuthArgs, AuthMethodArg},
    principal::Principal,
};

/// How HTTP requests are authenticated; built once at start-up.
pub struct HttpAuth {
    /// `None` with `--auth none`.
    authenticator: Option<Arc<Authenticator>>,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth")
            .field("enabled", &self.authenticator.is_some())
            .finish()
    }
}

impl HttpAuth {
    /// No authentication: every caller is `anonymous`, with every scope.
    pub fn none() -> HttpAuth {
        HttpAuth {
            authenticator: None,
        }
    }

    /// Builds the configured methods. Refuses `--auth none` on a non-loopback `listen`
    /// unless `--allow-unauthenticated`, `none` mixed with another method, and OAuth without
    /// a resource URI or an issuer.
    pub async fn from_args(
        args: &AuthArgs,
        listen: SocketAddr,
        keys: Arc<dyn KeyStore>,
    ) -> anyhow::Result<HttpAuth> {
        let none = args.methods.contains(&AuthMethodArg::None);
        if none && args.methods.len() > 1 {
            anyhow::bail!("--auth none cannot be combined with api-key or oauth");
        }
        if none || args.methods.is_empty() {
            if !listen.ip().is_loopback() && !args.allow_unauthenticated {
                anyhow::bail!(
                    "refusing to serve without authentication on {listen}, which is not a \
                     loopback address: anyone who reaches it could read and change every \
                     research task. Use --auth api-key (keys from `baton token create`) or \
                     --auth oauth, or pass --allow-unauthenticated if a proxy in front of baton \
                     authenticates callers"
                );
            }
            if !listen.ip().is_loopback() {
                tracing::warn!(
                    %listen,
                    "serving without authentication on a non-loopback address \
                     (--allow-unauthenticated): every caller is the principal `anonymous`"
                );
            }
            return Ok(HttpAuth::none());
        }
        let oauth = args.methods.contains(&AuthMethodArg::Oauth);
        let resource = match (&args.resource_uri, oauth) {
            (Some(uri), _) => uri.clone(),
            (None, true) => anyhow::bail!(
                "--auth oauth needs --resource-uri: baton's canonical MCP URL as clients reach \
                 it (e.g. https://baton.example.com/mcp), the audience tokens must name"
            ),
            (None, false) => format!("http://{listen}/mcp"),
        };
        let protected = ProtectedResource::new(&resource)
            .map_err(|e| anyhow::anyhow!("--resource-uri {resource}: {e}"))?
            .with_scopes_supported(Scopes::all());
        let mut builder = Authenticator::builder(protected);
        if args.methods.contains(&AuthMethodArg::ApiKey) {
            let directory =
                CachedDirectory::new(StoreDirectory(keys)).with_ttl(args.api_key_cache_ttl);
            builder = builder.api_keys(directory);
        }
        if oauth {
            let verifier = oauth_verifier(args, &resource)?;
            if let Err(e) = verifier.prefetch().await {
                tracing::warn!(
                    error = %e,
                    "could not fetch the OAuth issuers' keys at start-up; will retry on the first token"
                );
            }
            builder = builder.oauth(verifier);
        }
        let authenticator = builder
            .build()
            .map_err(|e| anyhow::anyhow!("authentication: {e}"))?;
        tracing::info!(
            methods = ?args.methods,
            resource = %resource,
            "HTTP callers must authenticate"
        );
        Ok(HttpAuth {
            authenticator: Some(Arc::new(authenticator)),
        })
    }

    /// The Protected Resource Metadata (RFC 9728) as `(paths, JSON)`, when OAuth is on.
    pub fn metadata(&self) -> Option<(Vec<String>, String)> {
        let authenticator = self.authenticator.as_ref()?;
        authenticator.oauth()?;
        let resource = authenticator.protected_resource();
        Some((resource.metadata_paths().to_vec(), resource.metadata_json()))
    }

    /// The 403 answer for a caller without `needed`.
    fn insufficient_scope(&self, needed: Scopes) -> Option<Response> {
        let authenticator = self.authenticator.as_ref()?;
        let rejection = authenticator
            .protected_resource()
            .insufficient_scope(needed);
        Some(rejection.into_response::<Body>())
    }
}

fn oauth_verifier(args: &AuthArgs, resource: &str) -> anyhow::Result<OAuthVerifier> {
    anyhow::ensure!(
        !args.oauth_issuers.is_empty(),
        "--auth oauth needs at least one --oauth-issuer"
    );
    let mut jwks_uris = HashMap::new();
    for pair in &args.oauth_jwks_uris {
        let (issuer, uri) = pair
            .split_once('=')
            .with_context(|| format!("--oauth-jwks-uri `{pair}` is not ISSUER=JWKS_URI"))?;
        anyhow::ensure!(
            args.oauth_issuers.iter().any(|i| i == issuer),
            "--oauth-jwks-uri names `{issuer}`, which is not an --oauth-issuer"
        );
        jwks_uris.insert(issuer.to_owned(), uri.to_owned());
    }
    let mut config = OAuthConfig::new(resource)
        .leeway(args.oauth_leeway)
        .min_refresh_interval(args.oauth_jwks_refresh);
    for issuer in &args.oauth_issuers {
        config = match jwks_uris.get(issuer) {
            Some(uri) => config.issuer_with_jwks_uri(issuer, uri),
            None => config.issuer(issuer),
        };
    }
    OAuthVerifier::new(config).map_err(|e| anyhow::anyhow!("--auth oauth: {e}"))
}

/// The scopes a caller's request holds, next to its [`Principal`] in the request's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Granted(pub Scopes);

/// Authenticates a request from its headers, before its body is read: puts the caller's
/// [`Principal`] and [`Granted`] scopes in the request's extensions, or returns the refusal:
/// 401 (400 for a malformed header, 503 when keys cannot be looked up) with the challenge the
/// spec asks for.
pub async fn authenticate(auth: &HttpAuth, request: &mut Request) -> Option<Response> {
    let Some(authenticator) = &auth.authenticator else {
        request.extensions_mut().insert(Principal::anonymous());
        request.extensions_mut().insert(Granted(Scopes::all()));
        return None;
    };
    match authenticator.authenticate(request.headers()).await {
        Ok(identity) => {
            record(&identity);
            let extensions = request.extensions_mut();
            extensions.insert(Principal::new(identity.principal()));
            extensions.insert(Granted(identity.scopes()));
            None
        }
        Err(error) => {
            // The reason stays here (never the token); the caller gets the challenge.
            tracing::info!(reason = %error, status = error.status().as_u16(), "request refused by authentication");
            Some(authenticator.rejection(&error).into_response::<Body>())
        }
    }
}

/// Names the caller in the request's log span by a short hash, never by token or key.
fn record(identity: &Identity) {
    tracing::Span::current().record("principal", identity.log_id().as_str());
}

/// The scopes each tool needs. Tools without an entry need only an authenticated caller.
#[derive(Clone, Debug, Default)]
pub struct ToolScopes {
    by_tool: HashMap<String, Scopes>,
    /// The search meta-tool's name, when tool search is on.
    search_tool: Option<String>,
    /// The call-through meta-tool's name: it needs what its target needs.
    call_tool: Option<String>,
}

impl ToolScopes {
    /// Scopes of the listed tools, plus the search meta-tools when tool search is on.
    pub fn new(by_tool: HashMap<String, Scopes>, search: Option<(&str, &str)>) -> ToolScopes {
        ToolScopes {
            by_tool,
            search_tool: search.map(|(s, _)| s.to_owned()),
            call_tool: search.map(|(_, c)| c.to_owned()),
        }
    }

    /// What a `tools/call` of `tool` needs; `target` is the tool a call-through names.
    pub fn needed(&self, tool: &str, target: Option<&str>) -> Scopes {
        if self.search_tool.as_deref() == Some(tool) {
            return Scopes::from_iter([Scope::ToolsSearch]);
        }
        if self.call_tool.as_deref() == Some(tool) {
            return target.map_or(Scopes::empty(), |t| self.needed(t, None));
        }
        self.by_tool.get(tool).copied().unwrap_or(Scopes::empty())
    }
}

/// The 403 for a `tools/call` the caller's scopes do not cover, if any.
pub fn check_scopes(
    auth: &HttpAuth,
    scopes: &ToolScopes,
    granted: Option<&Granted>,
    tool: &str,
    target: Option<&str>,
) -> Option<Response> {
    let needed = scopes.needed(tool, target);
    let granted = granted.map_or(Scopes::empty(), |g| g.0);
    let missing = granted.missing(needed);
    if missing.is_empty() {
        return None;
    }
    tracing::info!(tool, needed = %needed, "tool call refused: insufficient scope");
    auth.insufficient_scope(needed)
        .or_else(|| Some((http::StatusCode::FORBIDDEN, "insufficient scope\n").into_response()))
}

/// API keys looked up in the [`KeyStore`].
struct StoreDirectory(Arc<dyn KeyStore>);

#[async_trait]
impl ApiKeyDirectory for StoreDirectory {
    async fn find(&self, id: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        let Some(stored) = self.0.api_key(id.as_str()).await? else {
            return Ok(None);
        };
        Ok(Some(record_of(stored)?))
    }
}

/// A stored key as the authenticator reads it.
pub fn record_of(stored: StoredApiKey) -> Result<ApiKeyRecord, DirectoryError> {
    let hash: [u8; 32] = stored
        .hash
        .as_slice()
        .try_into()
        .map_err(|_| format!("api key {}: the stored hash is not 32 bytes", stored.id))?;
    let id: ApiKeyId = stored
        .id
        .parse()
        .map_err(|e| format!("api key {}: {e}", stored.id))?;
    let scopes: Scopes = stored
        .scopes
        .parse()
        .map_err(|e| format!("api key {}: {e}", stored.id))?;
    Ok(ApiKeyRecord {
        id,
        principal: stored.principal,
        scopes,
        hash: KeyHash::from_bytes(hash),
        created_at: stored.created_at,
        expires_at: stored.expires_at,
        revoked_at: stored.revoked_at,
    })
}
