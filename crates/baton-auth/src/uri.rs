//! Checks on the URIs of a configuration.

use std::net::IpAddr;

use url::Url;

use crate::error::{Error, ErrorKind};

/// Parses an absolute `http`/`https` URI with a host; `kind` names the field in errors.
fn parse(text: &str, kind: ErrorKind) -> Result<Url, Error> {
    let url = Url::parse(text)
        .map_err(|e| Error::with_detail(kind, format!("'{text}' does not parse: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::with_detail(
            kind,
            format!("'{text}' has scheme {}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::with_detail(kind, format!("'{text}' has no host")));
    }
    if url.fragment().is_some() || text.contains('#') {
        return Err(Error::with_detail(kind, format!("'{text}' has a fragment")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::with_detail(
            kind,
            format!("'{url}' carries credentials"),
        ));
    }
    Ok(url)
}

/// Whether plain `http` is acceptable for `url`: only on a loopback host, where nobody can
/// sit between baton and the server.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn require_secure(url: &Url, text: &str, kind: ErrorKind) -> Result<(), Error> {
    if url.scheme() == "https" || is_loopback(url) {
        Ok(())
    } else {
        Err(Error::with_detail(
            kind,
            format!("'{text}' uses http on a host that is not loopback"),
        ))
    }
}

/// A resource URI (RFC 8707 §2, RFC 9728 §1.2): absolute, `http(s)`, no fragment. The text
/// itself is what audiences are compared with, byte for byte.
pub(crate) fn resource(text: &str) -> Result<Url, Error> {
    parse(text, ErrorKind::InvalidResourceUri)
}

/// An issuer identifier (RFC 8414 §2): `https` (or `http` on loopback), no query, no
/// fragment.
pub(crate) fn issuer(text: &str) -> Result<Url, Error> {
    let url = parse(text, ErrorKind::InvalidIssuer)?;
    require_secure(&url, text, ErrorKind::InvalidIssuer)?;
    if url.query().is_some() {
        return Err(Error::with_detail(
            ErrorKind::InvalidIssuer,
            format!("'{text}' has a query"),
        ));
    }
    Ok(url)
}

/// A `jwks_uri`, configured or discovered: `https` (or `http` on loopback).
pub(crate) fn jwks(text: &str) -> Result<Url, Error> {
    let url = parse(text, ErrorKind::InvalidJwksUri)?;
    require_secure(&url, text, ErrorKind::InvalidJwksUri)?;
    Ok(url)
}

/// Whether a redirect target may be followed when fetching metadata or keys.
pub(crate) fn secure_target(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_unless_loopback() {
        for ok in [
            "https://auth.example.com",
            "https://auth.example.com/tenant/1",
            "http://127.0.0.1:8080",
            "http://[::1]:9000/x",
            "http://localhost:4444",
        ] {
            issuer(ok).unwrap();
        }
        let cases = [
            (
                "http://auth.example.com",
                "uses http on a host that is not loopback",
            ),
            ("https://auth.example.com/?a=1", "has a query"),
            ("https://auth.example.com/#x", "has a fragment"),
            ("ftp://auth.example.com", "has scheme ftp"),
            ("auth.example.com", "does not parse"),
            ("https://user:pw@auth.example.com", "carries credentials"),
        ];
        for (bad, why) in cases {
            let err = issuer(bad).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidIssuer, "{bad}");
            assert!(err.to_string().contains(why), "{err}");
        }
    }

    #[test]
    fn resources_may_be_http_but_never_have_a_fragment() {
        resource("http://baton.internal:8080/mcp").unwrap();
        resource("https://baton.example/mcp").unwrap();
        assert_eq!(
            resource("https://baton.example/mcp#a").unwrap_err().kind(),
            &ErrorKind::InvalidResourceUri
        );
        assert_eq!(
            jwks("http://keys.example/jwks").unwrap_err().kind(),
            &ErrorKind::InvalidJwksUri
        );
    }
}
