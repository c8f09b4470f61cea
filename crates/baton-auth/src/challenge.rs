//! What an HTTP server answers when authentication fails: the status, the RFC 6750
//! `WWW-Authenticate: Bearer` challenge, and the RFC 9728 Protected Resource Metadata that the
//! challenge points to.

use http::{
    HeaderValue, Response, StatusCode,
    header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE},
};
use serde::Serialize;

use crate::{
    error::{BearerError, Error, ErrorKind},
    scope::Scopes,
    uri,
};

/// The well-known path prefix of Protected Resource Metadata (RFC 9728 §3).
pub const METADATA_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Seconds a client is asked to wait after a 503 (a key set or the key directory was
/// unavailable).
const RETRY_AFTER_SECONDS: u32 = 5;

/// baton as an OAuth protected resource: its resource URI, the authorization servers that
/// issue tokens for it, its scopes, and where its metadata is. It renders the metadata
/// document and every challenge.
///
/// ```
/// use baton_auth::{ProtectedResource, Scope, Scopes};
///
/// let resource = ProtectedResource::new("https://baton.example.com/mcp")?
///     .with_authorization_servers(["https://auth.example.com"]);
/// assert_eq!(
///     resource.metadata_url(),
///     "https://baton.example.com/.well-known/oauth-protected-resource/mcp",
/// );
/// assert_eq!(
///     resource.metadata_paths(),
///     ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"],
/// );
/// assert_eq!(
///     resource.metadata_json(),
///     r#"{"resource":"https://baton.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["research:read","research:write","tools:search"],"bearer_methods_supported":["header"]}"#,
/// );
///
/// // A caller that may read but tries to write gets a 403 naming every scope needed.
/// let rejection = resource.insufficient_scope(Scopes::from_iter([Scope::ResearchWrite]));
/// assert_eq!(rejection.status(), 403);
/// assert_eq!(
///     rejection.www_authenticate().unwrap(),
///     r#"Bearer error="insufficient_scope", scope="research:write", resource_metadata="https://baton.example.com/.well-known/oauth-protected-resource/mcp""#,
/// );
/// # Ok::<(), baton_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    metadata_url: String,
    metadata_paths: Vec<String>,
    authorization_servers: Vec<String>,
    scopes_supported: Scopes,
    challenge_scope: Scopes,
}

#[derive(Serialize)]
struct Metadata<'a> {
    resource: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    authorization_servers: &'a [String],
    scopes_supported: Vec<&'static str>,
    bearer_methods_supported: [&'static str; 1],
}

impl ProtectedResource {
    /// The protected resource `resource` (baton's canonical URI, such as
    /// `https://baton.example.com/mcp`), with its metadata at the RFC 9728 §3.1 URL (the
    /// well-known prefix inserted between host and path), every [`Scope`](crate::Scope)
    /// supported, and no authorization server yet.
    pub fn new(resource: &str) -> Result<ProtectedResource, Error> {
        let url = uri::resource(resource)?;
        let path = url.path().trim_end_matches('/');
        let query = url.query().map(|q| format!("?{q}")).unwrap_or_default();
        let metadata_url = format!(
            "{}{METADATA_WELL_KNOWN}{path}{query}",
            url.origin().ascii_serialization()
        );
        let mut metadata_paths = vec![format!("{METADATA_WELL_KNOWN}{path}")];
        if !path.is_empty() {
            metadata_paths.push(METADATA_WELL_KNOWN.to_owned());
        }
        Ok(ProtectedResource {
            resource: resource.to_owned(),
            metadata_url,
            metadata_paths,
            authorization_servers: Vec::new(),
            scopes_supported: Scopes::all(),
            challenge_scope: Scopes::all(),
        })
    }

    /// Sets the issuers listed as `authorization_servers`. Challenges carry
    /// `resource_metadata` only when there is at least one (with API keys alone there is no
    /// authorization server to discover).
    #[must_use]
    pub fn with_authorization_servers<I, S>(mut self, issuers: I) -> ProtectedResource
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `scopes_supported` (default: every scope).
    #[must_use]
    pub fn with_scopes_supported(mut self, scopes: Scopes) -> ProtectedResource {
        self.scopes_supported = scopes;
        self
    }

    /// Sets the `scope` of 401 challenges: what a client should ask for when it has no token
    /// yet (default: every scope).
    #[must_use]
    pub fn with_challenge_scope(mut self, scopes: Scopes) -> ProtectedResource {
        self.challenge_scope = scopes;
        self
    }

    /// The resource URI.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The authorization servers.
    pub fn authorization_servers(&self) -> &[String] {
        &self.authorization_servers
    }

    /// The absolute URL of the metadata document, as put in `resource_metadata="…"`.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The paths at which a server serves [`metadata_json`](Self::metadata_json): the
    /// RFC 9728 §3.1 path for the resource (`/.well-known/oauth-protected-resource/mcp`), and
    /// the root one (`/.well-known/oauth-protected-resource`) that MCP clients try next; one
    /// path when the resource has none.
    pub fn metadata_paths(&self) -> &[String] {
        &self.metadata_paths
    }

    /// The Protected Resource Metadata document (RFC 9728 §2), as compact JSON:
    /// `resource`, `authorization_servers` (omitted when there is none), `scopes_supported`,
    /// and `bearer_methods_supported: ["header"]`. Serve it with
    /// `Content-Type: application/json`.
    pub fn metadata_json(&self) -> String {
        let metadata = Metadata {
            resource: &self.resource,
            authorization_servers: &self.authorization_servers,
            scopes_supported: self.scopes_supported.iter().map(|s| s.as_str()).collect(),
            bearer_methods_supported: ["header"],
        };
        // Serialising strings and arrays of strings cannot fail.
        serde_json::to_string(&metadata).unwrap_or_default()
    }

    /// The answer to a request that failed authentication (or the scope check) with `error`:
    ///
    /// | error                                   | status | `WWW-Authenticate`                                                        |
    /// |-----------------------------------------|--------|---------------------------------------------------------------------------|
    /// | no credentials, or another scheme       | 401    | `Bearer resource_metadata="…", scope="…"`                                 |
    /// | malformed `Authorization`               | 400    | `Bearer error="invalid_request", error_description="…", resource_metadata="…", scope="…"` |
    /// | invalid, expired, revoked… credentials  | 401    | `Bearer error="invalid_token", error_description="…", resource_metadata="…", scope="…"`   |
    /// | [`ErrorKind::InsufficientScope`]        | 403    | `Bearer error="insufficient_scope", scope="<every needed scope>", resource_metadata="…", error_description="…"` |
    /// | key set or key directory unavailable    | 503    | none (and `Retry-After: 5`)                                               |
    ///
    /// `resource_metadata` is present when there is an authorization server; `scope` when the
    /// challenge scope is not empty. The parameter order follows the examples of the MCP
    /// authorization spec.
    pub fn rejection(&self, error: &Error) -> Rejection {
        let status = error.status();
        let www_authenticate = match (error.kind(), error.bearer_error()) {
            (ErrorKind::InsufficientScope { needed, .. }, _) => {
                Some(self.forbidden_challenge(*needed, Some(&error.to_string())))
            }
            (_, Some(code)) => Some(self.unauthorized_challenge(Some((code, &error.to_string())))),
            (_, None) if status == StatusCode::UNAUTHORIZED => {
                Some(self.unauthorized_challenge(None))
            }
            _ => None,
        };
        Rejection {
            status,
            www_authenticate,
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(RETRY_AFTER_SECONDS),
            error: error.bearer_error().map(BearerError::as_str).unwrap_or(
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "temporarily_unavailable"
                } else if status == StatusCode::UNAUTHORIZED {
                    "unauthorized"
                } else {
                    "server_error"
                },
            ),
            description: error.to_string(),
        }
    }

    /// The 403 answer for a caller whose grant lacks some of `needed`: the challenge names
    /// every scope in `needed` (not only the missing ones), as the MCP spec asks, so a client
    /// can step up with one request.
    pub fn insufficient_scope(&self, needed: Scopes) -> Rejection {
        Rejection {
            status: StatusCode::FORBIDDEN,
            www_authenticate: Some(self.forbidden_challenge(needed, None)),
            retry_after: None,
            error: BearerError::InsufficientScope.as_str(),
            description: format!("insufficient scope: the request needs '{needed}'"),
        }
    }

    fn unauthorized_challenge(&self, error: Option<(BearerError, &str)>) -> String {
        let mut c = Challenge::new();
        if let Some((code, description)) = error {
            c.param("error", code.as_str());
            c.param("error_description", &description_text(description));
        }
        if !self.authorization_servers.is_empty() {
            c.param("resource_metadata", &self.metadata_url);
        }
        if !self.challenge_scope.is_empty() {
            c.param("scope", &self.challenge_scope.to_string());
        }
        c.finish()
    }

    fn forbidden_challenge(&self, needed: Scopes, description: Option<&str>) -> String {
        let mut c = Challenge::new();
        c.param("error", BearerError::InsufficientScope.as_str());
        if !needed.is_empty() {
            c.param("scope", &needed.to_string());
        }
        if !self.authorization_servers.is_empty() {
            c.param("resource_metadata", &self.metadata_url);
        }
        if let Some(description) = description {
            c.param("error_description", &description_text(description));
        }
        c.finish()
    }
}

/// An `auth-param` list after the scheme (RFC 9110 §11.2):
/// `Bearer name="value", name="value"`.
struct Challenge(String);

impl Challenge {
    fn new() -> Challenge {
        Challenge(String::from("Bearer"))
    }

    fn param(&mut self, name: &str, value: &str) {
        self.0.push_str(if self.0.len() == "Bearer".len() {
            " "
        } else {
            ", "
        });
        self.0.push_str(name);
        self.0.push('=');
        push_quoted(&mut self.0, value);
    }

    fn finish(self) -> String {
        self.0
    }
}

/// Appends `value` as an RFC 9110 §5.6.4 `quoted-string`: `"` and `\` become quoted-pairs;
/// characters that can't appear in a header field (controls other than tab, non-ASCII) are
/// replaced by `?` (the values here are URLs, scope names and this crate's messages, so this
/// never happens in practice).
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' | ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

/// RFC 6750 §3: `error_description` may only hold `%x20-21 / %x23-5B / %x5D-7E` (no `"`, no
/// `\`, no control or non-ASCII characters).
fn description_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

/// A refusal, ready to become an HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    www_authenticate: Option<String>,
    retry_after: Option<u32>,
    error: &'static str,
    description: String,
}

impl Rejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `WWW-Authenticate` header value, if the answer has one.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_deref()
    }

    /// The response body: `{"error": "<code>", "error_description": "<message>"}`, where the
    /// code is the RFC 6750 one (or `unauthorized`, `temporarily_unavailable`,
    /// `server_error`).
    pub fn body(&self) -> String {
        serde_json::json!({
            "error": self.error,
            "error_description": self.description,
        })
        .to_string()
    }

    /// The response: status, `WWW-Authenticate` (when there is one), `Retry-After` on a 503,
    /// `Content-Type: application/json` and [`body`](Self::body). `B` is any body type that
    /// can be made from a `String` (such as `axum::body::Body` or `String`).
    pub fn into_response<B: From<String>>(self) -> Response<B> {
        let mut response = Response::new(B::from(self.body()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(challenge) = &self.www_authenticate
            && let Ok(value) = HeaderValue::from_str(challenge)
        {
            headers.insert(WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
