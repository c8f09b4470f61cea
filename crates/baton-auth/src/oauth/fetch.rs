//! Fetching an issuer's metadata and key set over HTTP.

use std::time::Duration;

use http::{StatusCode, header::ACCEPT};
use serde::Deserialize;
use url::Url;

use crate::{
    error::{Error, ErrorKind},
    uri,
};

/// The largest metadata or JWKS document read, in bytes.
const MAX_DOCUMENT_LEN: usize = 512 * 1024;

/// The most redirects followed, each only to `https` (or `http` on loopback).
const MAX_REDIRECTS: usize = 3;

/// An HTTP client for metadata and key sets.
pub(crate) struct Fetcher {
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration) -> Result<Fetcher, Error> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !uri::secure_target(attempt.url()) {
                attempt.error("redirect to a plain http URL")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirects)
            .user_agent(concat!("baton-auth/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::new(ErrorKind::HttpClient).with_source(e))?;
        Ok(Fetcher { client })
    }

    /// The body of a `200 OK` answer to `GET url`, at most [`MAX_DOCUMENT_LEN`] bytes.
    pub(crate) async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Transport(format!("GET {url}: {e}")))?;
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status(), url.to_string()));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_LEN as u64)
        {
            return Err(FetchError::TooLarge(url.to_string()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(format!("GET {url}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_LEN {
                return Err(FetchError::TooLarge(url.to_string()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The `jwks_uri` of `issuer`'s metadata, tried at (RFC 8414 §3.1, then OpenID Connect
    /// Discovery §4, as MCP clients do):
    ///
    /// 1. `{origin}/.well-known/oauth-authorization-server{path}`
    /// 2. `{origin}/.well-known/openid-configuration{path}`
    /// 3. `{issuer}/.well-known/openid-configuration` (when the issuer has a path)
    ///
    /// The first document that names `issuer` exactly (RFC 8414 §3.3) and a `jwks_uri` that is
    /// `https` (or `http` on loopback) is used.
    pub(crate) async fn discover_jwks_uri(&self, issuer: &str) -> Result<Url, Error> {
        let mut failures = Vec::new();
        for url in metadata_urls(issuer)? {
            match self.jwks_uri_from(&url, issuer).await {
                Ok(jwks_uri) => return Ok(jwks_uri),
                // The next location may still have it (a web server may answer any path).
                Err(why) => failures.push(why),
            }
        }
        Err(Error::with_detail(
            ErrorKind::KeySetUnavailable,
            format!(
                "no usable metadata for issuer {issuer}: {}",
                failures.join("; ")
            ),
        ))
    }

    /// The `jwks_uri` of the metadata document at `url`, or why there is none.
    async fn jwks_uri_from(&self, url: &Url, issuer: &str) -> Result<Url, String> {
        let body = self.get(url).await.map_err(|e| e.to_string())?;
        let metadata: Metadata = serde_json::from_slice(&body)
            .map_err(|e| format!("the metadata at {url} is not a JSON object ({e})"))?;
        if metadata.issuer.as_deref() != Some(issuer) {
            return Err(format!(
                "the metadata at {url} names another issuer (RFC 8414 §3.3)"
            ));
        }
        let jwks_uri = metadata
            .jwks_uri
            .ok_or_else(|| format!("the metadata at {url} has no jwks_uri"))?;
        uri::jwks(&jwks_uri).map_err(|e| format!("the metadata at {url}: {e}"))
    }
}

/// The metadata URLs to try for `issuer`, in order.
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<Url>, Error> {
    let url = uri::issuer(issuer)?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    let mut urls = vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
    ];
    if !path.is_empty() {
        urls.push(format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ));
    }
    urls.iter()
        .map(|u| {
            Url::parse(u).map_err(|e| {
                Error::with_detail(ErrorKind::InvalidIssuer, format!("'{issuer}': {e}"))
            })
        })
        .collect()
}

/// Why a fetch failed.
#[derive(Debug)]
pub(crate) enum FetchError {
    Transport(String),
    Status(StatusCode, String),
    TooLarge(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Transport(e) => f.write_str(e),
            FetchError::Status(status, url) => write!(f, "GET {url}: HTTP {status}"),
            FetchError::TooLarge(url) => {
                write!(
                    f,
                    "GET {url}: the document is larger than {MAX_DOCUMENT_LEN} bytes"
                )
            }
        }
    }
}

impl std::error::Error for FetchError {}

impl From<FetchError> for Error {
    fn from(e: FetchError) -> Error {
        Error::new(ErrorKind::KeySetUnavailable).with_source(e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc_8414_then_oidc() {
        let urls = |issuer| -> Vec<String> {
            metadata_urls(issuer)
                .unwrap()
                .into_iter()
                .map(String::from)
                .collect()
        };
        assert_eq!(
            urls("https://auth.example.com"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server",
                "https://auth.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://auth.example.com/tenant/1/"),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant/1",
                "https://auth.example.com/.well-known/openid-configuration/tenant/1",
                "https://auth.example.com/tenant/1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("http://127.0.0.1:8080"),
            [
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server",
                "http://127.0.0.1:8080/.well-known/openid-configuration",
            ]
        );
    }
}
