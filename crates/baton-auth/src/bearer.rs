//! Taking the bearer token from a request's headers (RFC 6750 §2.1), and only from there.

use http::{HeaderMap, header::AUTHORIZATION};

use crate::error::{Error, ErrorKind};

/// The longest bearer token accepted, in bytes. JWT access tokens are typically 0.5 to 2 KB;
/// a longer value is refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The bearer token of a request, from its one `Authorization: Bearer <token>` header.
///
/// The scheme name is case-insensitive (RFC 9110 §11.1); the token must be an RFC 6750
/// `b64token` (`A-Z a-z 0-9 - . _ ~ + /`, then any `=`). Tokens in the query string or the
/// body are never looked at: RFC 6750's other two methods are not supported, as the MCP
/// authorization spec requires.
///
/// ```
/// use baton_auth::{ErrorKind, bearer_token};
/// use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
///
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc.def-ghi"));
/// assert_eq!(bearer_token(&headers)?, "abc.def-ghi");
///
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcjpwdw=="));
/// assert_eq!(bearer_token(&headers).unwrap_err().kind(), &ErrorKind::UnsupportedScheme);
/// # Ok::<(), baton_auth::Error>(())
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Error> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or_else(|| Error::new(ErrorKind::MissingCredentials))?;
    if values.next().is_some() {
        return Err(Error::with_detail(
            ErrorKind::MalformedAuthorization,
            "the request has more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| Error::new(ErrorKind::MalformedAuthorization))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::new(ErrorKind::UnsupportedScheme));
    }
    let token = rest.trim_start_matches(' ');
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::new(ErrorKind::TokenTooLong));
    }
    if !is_b64token(token) {
        return Err(Error::new(ErrorKind::MalformedAuthorization));
    }
    Ok(token)
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_static(v));
        }
        map
    }

    fn kind(values: &[&'static str]) -> ErrorKind {
        *bearer_token(&headers(values)).unwrap_err().kind()
    }

    #[test]
    fn accepts_any_case_of_the_scheme_and_padding() {
        for v in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER a.b.c",
            "Bearer   a.b.c",
        ] {
            assert_eq!(bearer_token(&headers(&[v])).unwrap(), "a.b.c", "{v}");
        }
        assert_eq!(bearer_token(&headers(&["Bearer YQ=="])).unwrap(), "YQ==");
    }

    #[test]
    fn refuses_what_is_not_one_bearer_token() {
        assert_eq!(kind(&[]), ErrorKind::MissingCredentials);
        assert_eq!(kind(&["Basic dXNlcg=="]), ErrorKind::UnsupportedScheme);
        assert_eq!(kind(&["Bearerx a"]), ErrorKind::UnsupportedScheme);
        assert_eq!(kind(&["Bearer"]), ErrorKind::MalformedAuthorization);
        assert_eq!(kind(&["Bearer "]), ErrorKind::MalformedAuthorization);
        assert_eq!(kind(&["Bearer a b"]), ErrorKind::MalformedAuthorization);
        assert_eq!(kind(&["Bearer a,b"]), ErrorKind::MalformedAuthorization);
        assert_eq!(kind(&["Bearer ==="]), ErrorKind::MalformedAuthorization);
        assert_eq!(kind(&["Bearer a=b"]), ErrorKind::MalformedAuthorization);
        assert_eq!(
            kind(&["Bearer a", "Bearer b"]),
            ErrorKind::MalformedAuthorization
        );
    }

    #[test]
    fn refuses_overlong_tokens_before_looking_at_them() {
        let mut map = HeaderMap::new();
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        map.insert(AUTHORIZATION, HeaderValue::from_str(&long).unwrap());
        assert_eq!(
            bearer_token(&map).unwrap_err().kind(),
            &ErrorKind::TokenTooLong
        );
        let ok = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN));
        map.insert(AUTHORIZATION, HeaderValue::from_str(&ok).unwrap());
        assert_eq!(bearer_token(&map).unwrap().len(), MAX_TOKEN_LEN);
    }

    proptest! {
        #[test]
        fn every_b64token_round_trips(token in "[A-Za-z0-9._~+/-]{1,64}={0,2}") {
            let mut map = HeaderMap::new();
            map.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
            prop_assert_eq!(bearer_token(&map).unwrap(), token.as_str());
        }

        #[test]
        fn arbitrary_values_never_panic(value in "[ -~]{0,80}") {
            let mut map = HeaderMap::new();
            map.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
            if let Ok(token) = bearer_token(&map) {
                prop_assert!(is_b64token(token));
            }
        }
    }
}
