//! The DNS-rebinding and cross-origin guard of `/mcp`, the first check of the guard layer
//! (`http::run_guards`), before the caller is authenticated and before the body is read: a
//! `Host` not in the allowed hosts, or an `Origin` not in the allowed origins, gets 403 at
//! once, whatever the body.
//!
//! The rules are rmcp's (which still checks both again, behind this check):
//! - `Host` (or the URI's authority when there is none) is an authority; its host part is
//!   compared without case and without IPv6 brackets; an allowed entry without a port admits
//!   any port, one with a port only that port. An empty list admits every host
//!   (`--any-host`). A `Host` that does not parse gets 400.
//! - A request without `Origin` passes (non-browser clients). `null` matches only an allowed
//!   `null`. Otherwise scheme and host must match an entry; its port must match the entry's
//!   port (`:*`: any port; no port in the entry: any port; an origin without a port has its
//!   scheme's default port). An `Origin` that does not parse gets 403.

use axum::{
    extract::Request,
    http::{HeaderMap, StatusCode, Uri, header, uri::Authority},
    response::{IntoResponse, Response},
};

/// The allowed hosts and origins, parsed once.
#[derive(Debug, Default)]
pub struct OriginGuard {
    /// Empty: any host.
    hosts: Vec<HostEntry>,
    origins: Vec<OriginEntry>,
}

#[derive(Debug, PartialEq, Eq)]
struct HostEntry {
    host: String,
    port: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
}

#[derive(Debug, PartialEq, Eq)]
enum OriginEntry {
    Null,
    Site {
        scheme: String,
        host: String,
        port: PortRule,
    },
}

/// An `Origin` as sent.
#[derive(Debug, PartialEq, Eq)]
enum Origin {
    Null,
    Site {
        scheme: String,
        host: String,
        port: Option<u16>,
    },
}

fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn parse_host_entry(entry: &str) -> Option<HostEntry> {
    let entry = entry.trim();
    if entry.is_empty() {
        return None;
    }
    Some(match Authority::try_from(entry) {
        Ok(a) => HostEntry {
            host: normal_host(a.host()),
            port: a.port_u16(),
        },
        Err(_) => HostEntry {
            host: normal_host(entry),
            port: None,
        },
    })
}

fn parse_origin(value: &str) -> Option<Origin> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("null") {
        return Some(Origin::Null);
    }
    let uri = Uri::try_from(value).ok()?;
    let authority = uri.authority()?;
    Some(Origin::Site {
        scheme: uri.scheme_str()?.to_ascii_lowercase(),
        host: normal_host(authority.host()),
        port: authority.port_u16(),
    })
}

fn parse_origin_entry(entry: &str) -> Option<OriginEntry> {
    let entry = entry.trim();
    let (base, any_port) = match entry.strip_suffix(":*") {
        Some(base) => (base, true),
        None => (entry, false),
    };
    match parse_origin(base)? {
        Origin::Null if !any_port => Some(OriginEntry::Null),
        Origin::Null => None,
        Origin::Site { port: Some(_), .. } if any_port => None,
        Origin::Site { scheme, host, port } => Some(OriginEntry::Site {
            scheme,
            host,
            port: port.map_or(PortRule::Any, PortRule::Exact),
        }),
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl OriginGuard {
    /// A guard admitting `hosts` (empty: any host) and `origins`.
    pub fn new(hosts: &[String], origins: &[String]) -> OriginGuard {
        OriginGuard {
            hosts: hosts.iter().filter_map(|h| parse_host_entry(h)).collect(),
            origins: origins
                .iter()
                .filter_map(|o| parse_origin_entry(o))
                .collect(),
        }
    }

    /// `Err` with the status and text of the answer when the request's Host or Origin is not
    /// admitted.
    fn check(&self, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        if !self.hosts.is_empty() {
            let authority = match headers.get(header::HOST) {
                Some(value) => value
                    .to_str()
                    .ok()
                    .and_then(|v| Authority::try_from(v).ok()),
                None => uri.authority().cloned(),
            };
            let Some(authority) = authority else {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "Bad Request: invalid Host header",
                ));
            };
            let host = normal_host(authority.host());
            let port = authority.port_u16();
            if !self
                .hosts
                .iter()
                .any(|e| e.host == host && e.port.is_none_or(|p| Some(p) == port))
            {
                tracing::warn!(host = %authority, "refused a request whose Host is not allowed (DNS rebinding?)");
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "Forbidden: Host header is not allowed",
                ));
            }
        }
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let Some(origin) = value.to_str().ok().and_then(parse_origin) else {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "Forbidden: invalid Origin header",
            ));
        };
        if self.origins.iter().any(|e| admits(e, &origin)) {
            Ok(())
        } else {
            tracing::warn!(origin = ?value, "refused a request whose Origin is not allowed");
            Err(refuse(
                StatusCode::FORBIDDEN,
                "Forbidden: Origin header is not allowed",
            ))
        }
    }
}

fn admits(entry: &OriginEntry, origin: &Origin) -> bool {
    match (entry, origin) {
        (OriginEntry::Null, Origin::Null) => true,
        (
            OriginEntry::Site { scheme, host, port },
            Origin::Site {
                scheme: o_scheme,
                host: o_host,
                port: o_port,
            },
        ) => {
            scheme == o_scheme
                && host == o_host
                && match port {
                    PortRule::Any => true,
                    PortRule::Exact(p) => o_port.or_else(|| default_port(o_scheme)) == Some(*p),
                }
        }
        _ => false,
    }
}

/// Why a request is refused: its status and text.
type Refusal = (StatusCode, &'static str);

fn refuse(status: StatusCode, text: &'static str) -> Refusal {
    (status, text)
}

/// Checks Host and Origin from the headers alone: the refusal to send, if any.
pub fn check(guard: &OriginGuard, request: &Request) -> Option<Response> {
    let (status, text) = guard.check(request.uri(), request.headers()).err()?;
    Some((status, format!("{text}\n")).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn status(guard: &OriginGuard, host: Option<&str>, origin: Option<&str>) -> u16 {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(header::HOST, h.parse().unwrap());
        }
        if let Some(o) = origin {
            headers.insert(header::ORIGIN, o.parse().unwrap());
        }
        match guard.check(&Uri::from_static("/mcp"), &headers) {
            Ok(()) => 200,
            Err((status, _)) => status.as_u16(),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hosts_match_without_case_and_brackets_and_by_port_when_listed() {
        let guard = OriginGuard::new(&strings(&["localhost", "::1", "api.example.com:8443"]), &[]);
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "[::1]:80",
            "api.example.com:8443",
        ] {
            assert_eq!(status(&guard, Some(host), None), 200, "{host}");
        }
        for host in [
            "evil.example.com",
            "api.example.com",
            "api.example.com:443",
            "127.0.0.2",
        ] {
            assert_eq!(status(&guard, Some(host), None), 403, "{host}");
        }
        assert_eq!(status(&guard, Some("bad host"), None), 400);
        assert_eq!(status(&guard, None, None), 400, "no Host and no authority");
        let any = OriginGuard::new(&[], &[]);
        assert_eq!(status(&any, Some("anything.example"), None), 200);
    }

    #[test]
    fn origins_match_scheme_host_and_port_rule() {
        let guard = OriginGuard::new(
            &[],
            &strings(&[
                "http://localhost:*",
                "https://app.example.com",
                "http://site.example:3000",
                "null",
            ]),
        );
        for origin in [
            "http://localhost:1234",
            "http://LOCALHOST",
            "https://app.example.com:8443",
            "http://site.example:3000",
            "null",
        ] {
            assert_eq!(status(&guard, None, Some(origin)), 200, "{origin}");
        }
        for origin in [
            "https://localhost:1234",
            "http://site.example",
            "http://site.example:3001",
            "https://app.example.com.evil.example",
            "not an origin",
        ] {
            assert_eq!(status(&guard, None, Some(origin)), 403, "{origin}");
        }
        assert_eq!(status(&guard, None, None), 200, "no Origin passes");
        let default_port = OriginGuard::new(&[], &strings(&["https://a.example:443"]));
        assert_eq!(status(&default_port, None, Some("https://a.example")), 200);
        assert_eq!(
            OriginGuard::new(&[], &strings(&["http://a:1:*", "null:*"])).origins,
            []
        );
    }
}
