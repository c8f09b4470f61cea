//! One entry point for every configured method: API keys and OAuth access tokens.

use std::{fmt, sync::Arc, time::SystemTime};

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::{
    api_key::{PresentedApiKey, directory::ApiKeyDirectory, looks_like_api_key},
    bearer::bearer_token,
    challenge::{ProtectedResource, Rejection},
    error::{Error, ErrorKind},
    identity::Identity,
    oauth::OAuthVerifier,
};

/// Authenticates requests with the configured methods: API keys, OAuth access tokens, or
/// both. A bearer value that starts with `baton_` is an API key; anything else is a JWT.
///
/// Build one at start-up, share it in an `Arc`, and call
/// [`authenticate`](Authenticator::authenticate) before reading a request's body.
///
/// ```
/// use baton_auth::{
///     ApiKeyRecord, Authenticator, CachedDirectory, ErrorKind, MemoryApiKeyDirectory,
///     NewApiKey, ProtectedResource, Scopes,
/// };
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
///
/// # tokio_test_block_on(async {
/// // `baton token create --principal alice --scope research:read`:
/// let directory = MemoryApiKeyDirectory::new();
/// let key = NewApiKey::generate();
/// let now = chrono::Utc::now();
/// directory.insert(ApiKeyRecord::new(&key, "alice", "research:read".parse()?, now, None)?);
///
/// let auth = Authenticator::builder(ProtectedResource::new("https://baton.example.com/mcp")?)
///     .api_keys(CachedDirectory::new(directory))
///     .build()?;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {}", key.reveal()))?);
/// let identity = auth.authenticate(&headers).await?;
/// assert_eq!(identity.principal(), "key:alice");
/// assert_eq!(identity.scopes().to_string(), "research:read");
///
/// // No credentials: a 401 with a Bearer challenge (no authorization server here, so no
/// // resource_metadata).
/// let err = auth.authenticate(&HeaderMap::new()).await.unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::MissingCredentials);
/// let rejection = auth.rejection(&err);
/// assert_eq!(rejection.status(), 401);
/// assert_eq!(
///     rejection.www_authenticate(),
///     Some(r#"Bearer scope="research:read research:write tools:search""#),
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
pub struct Authenticator {
    api_keys: Option<Arc<dyn ApiKeyDirectory>>,
    oauth: Option<OAuthVerifier>,
    resource: ProtectedResource,
}

/// Builds an [`Authenticator`].
pub struct AuthenticatorBuilder {
    api_keys: Option<Arc<dyn ApiKeyDirectory>>,
    oauth: Option<OAuthVerifier>,
    resource: ProtectedResource,
}

impl AuthenticatorBuilder {
    /// Accepts API keys, looked up in `directory` (put a [`CachedDirectory`](crate::CachedDirectory)
    /// in front of a store).
    #[must_use]
    pub fn api_keys(mut self, directory: impl ApiKeyDirectory + 'static) -> AuthenticatorBuilder {
        self.api_keys = Some(Arc::new(directory));
        self
    }

    /// Accepts OAuth access tokens checked by `verifier`.
    #[must_use]
    pub fn oauth(mut self, verifier: OAuthVerifier) -> AuthenticatorBuilder {
        self.oauth = Some(verifier);
        self
    }

    /// Builds the authenticator. With OAuth, the protected resource's URI must be the
    /// verifier's audience, and when the resource lists no authorization server, the
    /// verifier's issuers are listed.
    ///
    /// Errors: [`ErrorKind::NoMethods`] without any method; [`ErrorKind::InvalidResourceUri`]
    /// when the resource and the OAuth audience differ.
    pub fn build(self) -> Result<Authenticator, Error> {
        if self.api_keys.is_none() && self.oauth.is_none() {
            return Err(Error::new(ErrorKind::NoMethods));
        }
        let mut resource = self.resource;
        if let Some(oauth) = &self.oauth {
            if oauth.config().resource() != resource.resource() {
                return Err(Error::with_detail(
                    ErrorKind::InvalidResourceUri,
                    format!(
                        "the protected resource is '{}' but OAuth tokens are checked for the \
                         audience '{}'",
                        resource.resource(),
                        oauth.config().resource()
                    ),
                ));
            }
            if resource.authorization_servers().is_empty() {
                resource = resource.with_authorization_servers(oauth.config().issuers());
            }
        }
        Ok(Authenticator {
            api_keys: self.api_keys,
            oauth: self.oauth,
            resource,
        })
    }
}

impl Authenticator {
    /// Starts building an authenticator for `resource`.
    pub fn builder(resource: ProtectedResource) -> AuthenticatorBuilder {
        AuthenticatorBuilder {
            api_keys: None,
            oauth: None,
            resource,
        }
    }

    /// The identity proved by the request's `Authorization: Bearer` header, now.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Identity, Error> {
        self.authenticate_at(headers, SystemTime::now()).await
    }

    /// The identity proved by the request's `Authorization: Bearer` header at `now`.
    pub async fn authenticate_at(
        &self,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<Identity, Error> {
        let bearer = bearer_token(headers)?;
        self.authenticate_bearer(bearer, now).await
    }

    /// The identity proved by a bearer value (an API key or a JWT) at `now`.
    pub async fn authenticate_bearer(
        &self,
        bearer: &str,
        now: SystemTime,
    ) -> Result<Identity, Error> {
        if looks_like_api_key(bearer) {
            let directory = self
                .api_keys
                .as_ref()
                .ok_or_else(|| Error::new(ErrorKind::ApiKeysNotAccepted))?;
            let presented = PresentedApiKey::parse(bearer)?;
            let record = directory
                .find(presented.id())
                .await
                .map_err(|e| Error::new(ErrorKind::DirectoryUnavailable).with_source(e))?
                .ok_or_else(|| Error::new(ErrorKind::UnknownApiKey))?;
            record.authenticate(&presented, DateTime::<Utc>::from(now))
        } else {
            let verifier = self
                .oauth
                .as_ref()
                .ok_or_else(|| Error::new(ErrorKind::OAuthNotAccepted))?;
            verifier.verify(bearer, now).await
        }
    }

    /// The answer to a request refused with `error` (see [`ProtectedResource::rejection`]).
    pub fn rejection(&self, error: &Error) -> Rejection {
        self.resource.rejection(error)
    }

    /// The protected resource: its metadata document and challenges.
    pub fn protected_resource(&self) -> &ProtectedResource {
        &self.resource
    }

    /// The OAuth verifier, when OAuth tokens are accepted.
    pub fn oauth(&self) -> Option<&OAuthVerifier> {
        self.oauth.as_ref()
    }

    /// Whether API keys are accepted.
    pub fn accepts_api_keys(&self) -> bool {
        self.api_keys.is_some()
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.api_keys.is_some())
            .field("oauth", &self.oauth)
            .field("resource", &self.resource)
            .finish()
    }
}
