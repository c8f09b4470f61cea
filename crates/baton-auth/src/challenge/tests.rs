//! Challenges and metadata, byte for byte and against the grammar of RFC 9110 §11 and the
//! value rules of RFC 6750 §3.

use proptest::prelude::*;

use super::*;
use crate::Scope;

const META: &str = "https://baton.example.com/.well-known/oauth-protected-resource/mcp";
const ALL: &str = "research:read research:write tools:search";

fn oauth_resource() -> ProtectedResource {
    ProtectedResource::new("https://baton.example.com/mcp")
        .unwrap()
        .with_authorization_servers(["https://auth.example.com"])
}

fn challenge(resource: &ProtectedResource, kind: ErrorKind) -> Option<String> {
    resource
        .rejection(&Error::new(kind))
        .www_authenticate()
        .map(str::to_owned)
}

/// Parses `Bearer name="value", …` strictly by RFC 9110 §11 (`auth-scheme 1*SP
/// #auth-param`, `auth-param = token BWS "=" BWS ( token / quoted-string )`), accepting only
/// the forms this crate writes (single SP after the scheme, `", "` between parameters, quoted
/// values). Returns the unescaped parameters in order.
fn parse_challenge(header: &str) -> Result<Vec<(String, String)>, String> {
    let rest = header
        .strip_prefix("Bearer")
        .ok_or("the scheme is not Bearer")?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let mut rest = rest.strip_prefix(' ').ok_or("no SP after the scheme")?;
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let mut params = Vec::new();
    loop {
        let name_len = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        if name_len == 0 {
            return Err(format!("no parameter name at {rest:?}"));
        }
        let name = &rest[..name_len];
        rest = rest[name_len..]
            .strip_prefix("=\"")
            .ok_or(format!("{name}: no =\" after the name"))?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (i, c) = chars
                .next()
                .ok_or(format!("{name}: unterminated quoted-string"))?;
            match c {
                '"' => break i,
                '\\' => {
                    let (_, escaped) = chars.next().ok_or("a lone backslash")?;
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    if !(escaped == '\t' || (' '..='~').contains(&escaped)) {
                        return Err(format!("{name}: bad quoted-pair"));
                    }
                    value.push(escaped);
                }
                // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E
                '\t' | ' ' | '!' | '#'..='[' | ']'..='~' => value.push(c),
                other => return Err(format!("{name}: {other:?} is not qdtext")),
            }
        };
        if params.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("{name} appears twice (RFC 6750 §3)"));
        }
        params.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        if rest.is_empty() {
            return Ok(params);
        }
        rest = rest
            .strip_prefix(", ")
            .ok_or(format!("no \", \" after {name}"))?;
    }
}

/// RFC 6750 §3's rules for the values of the parameters it defines.
fn check_rfc_6750_values(params: &[(String, String)]) -> Result<(), String> {
    let nqschar = |c: char| matches!(c, ' ' | '!' | '#'..='[' | ']'..='~');
    let nqchar = |c: char| matches!(c, '!' | '#'..='[' | ']'..='~');
    for (name, value) in params {
        match name.as_str() {
            "error" => {
                if !["invalid_request", "invalid_token", "insufficient_scope"]
                    .contains(&value.as_str())
                {
                    return Err(format!("unknown error code {value}"));
                }
            }
            "error_description" => {
                if !value.chars().all(nqschar) {
                    return Err(format!(
                        "error_description has a forbidden character: {value}"
                    ));
                }
            }
            "scope" => {
                // scope = scope-token *( SP scope-token ); scope-token = 1*nqchar
                if value
                    .split(' ')
                    .any(|t| t.is_empty() || !t.chars().all(nqchar))
                {
                    return Err(format!("bad scope list {value:?}"));
                }
            }
            "resource_metadata" => {
                url::Url::parse(value).map_err(|e| format!("resource_metadata: {e}"))?;
            }
            other => return Err(format!("unexpected parameter {other}")),
        }
    }
    Ok(())
}

fn check(header: &str) -> Vec<(String, String)> {
    let params = parse_challenge(header).unwrap_or_else(|e| panic!("{header}: {e}"));
    check_rfc_6750_values(&params).unwrap_or_else(|e| panic!("{header}: {e}"));
    assert!(HeaderValue::from_str(header).is_ok(), "{header}");
    params
}

#[test]
fn no_credentials_get_resource_metadata_and_scope_without_an_error_code() {
    let header = challenge(&oauth_resource(), ErrorKind::MissingCredentials).unwrap();
    assert_eq!(
        header,
        format!(r#"Bearer resource_metadata="{META}", scope="{ALL}""#)
    );
    check(&header);
    // Another scheme counts as no credentials (RFC 6750 §3.1).
    assert_eq!(
        challenge(&oauth_resource(), ErrorKind::UnsupportedScheme).unwrap(),
        header
    );
}

#[test]
fn a_failed_token_gets_invalid_token() {
    let header = challenge(&oauth_resource(), ErrorKind::TokenExpired).unwrap();
    assert_eq!(
        header,
        format!(
            r#"Bearer error="invalid_token", error_description="the access token has expired", resource_metadata="{META}", scope="{ALL}""#
        )
    );
    check(&header);
}

#[test]
fn a_malformed_header_gets_invalid_request_and_400() {
    let rejection = oauth_resource().rejection(&Error::new(ErrorKind::MalformedAuthorization));
    assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    let header = rejection.www_authenticate().unwrap();
    let params = check(header);
    assert_eq!(
        params[0],
        ("error".to_owned(), "invalid_request".to_owned())
    );
    // The message quotes 'Bearer <token>' with single quotes: no escaping is needed in an
    // error_description, which may not hold a double quote at all.
    assert_eq!(
        params[1].1,
        "malformed Authorization header: expected exactly one header 'Bearer <token>' with a \
         token of the characters A-Z a-z 0-9 - . _ ~ + / ="
    );
}

#[test]
fn insufficient_scope_names_every_needed_scope() {
    let needed = Scopes::from_iter([Scope::ResearchWrite, Scope::ToolsSearch]);
    let resource = oauth_resource();
    let rejection = resource.insufficient_scope(needed);
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.www_authenticate().unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", scope="research:write tools:search", resource_metadata="{META}""#
        )
    );
    check(rejection.www_authenticate().unwrap());

    // From an Identity::require error: the same, with a description.
    let missing = Scopes::from_iter([Scope::ResearchWrite]);
    let err = Error::new(ErrorKind::InsufficientScope { needed, missing });
    let header = resource
        .rejection(&err)
        .www_authenticate()
        .unwrap()
        .to_owned();
    assert_eq!(
        header,
        format!(
            r#"Bearer error="insufficient_scope", scope="research:write tools:search", resource_metadata="{META}", error_description="insufficient scope: the request needs 'research:write tools:search', the token lacks 'research:write'""#
        )
    );
    check(&header);
}

#[test]
fn without_an_authorization_server_there_is_no_resource_metadata() {
    let keys_only = ProtectedResource::new("https://baton.example.com/mcp").unwrap();
    assert_eq!(
        challenge(&keys_only, ErrorKind::MissingCredentials).unwrap(),
        format!(r#"Bearer scope="{ALL}""#)
    );
    assert_eq!(
        challenge(&keys_only, ErrorKind::UnknownApiKey).unwrap(),
        format!(
            r#"Bearer error="invalid_token", error_description="unknown API key", scope="{ALL}""#
        )
    );
    let bare = keys_only.with_challenge_scope(Scopes::empty());
    assert_eq!(
        challenge(&bare, ErrorKind::MissingCredentials).unwrap(),
        "Bearer"
    );
    check("Bearer");
}

#[test]
fn unavailable_and_configuration_errors_have_no_challenge() {
    for kind in [
        ErrorKind::KeySetUnavailable,
        ErrorKind::DirectoryUnavailable,
    ] {
        let rejection = oauth_resource().rejection(&Error::new(kind));
        assert_eq!(rejection.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejection.www_authenticate(), None);
        let response: Response<String> = rejection.into_response();
        assert_eq!(response.headers()[RETRY_AFTER], "5");
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
        assert!(response.body().contains("\"temporarily_unavailable\""));
    }
    let rejection = oauth_resource().rejection(&Error::new(ErrorKind::NoMethods));
    assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(rejection.www_authenticate(), None);
}

#[test]
fn responses_carry_the_challenge_and_a_json_body() {
    let response: Response<String> = oauth_resource()
        .rejection(&Error::new(ErrorKind::BadSignature))
        .into_response();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        response.headers()[WWW_AUTHENTICATE],
        format!(
            r#"Bearer error="invalid_token", error_description="the access token's signature does not verify", resource_metadata="{META}", scope="{ALL}""#
        )
    );
    let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        body["error_description"],
        "the access token's signature does not verify"
    );
}

#[test]
fn quoting_escapes_quotes_and_backslashes() {
    let mut out = String::new();
    push_quoted(&mut out, r#"a"b\c d"#);
    assert_eq!(out, r#""a\"b\\c d""#);
    let mut out = String::new();
    push_quoted(&mut out, "x\u{7}y\u{e9}");
    assert_eq!(out, r#""x?y?""#);
    assert_eq!(description_text(r#"say "hi" \ é"#), "say 'hi' / ?");
}

#[test]
fn metadata_follows_rfc_9728() {
    // RFC 9728 §3.1's own example.
    let r = ProtectedResource::new("https://resource.example.com/resource1").unwrap();
    assert_eq!(
        r.metadata_url(),
        "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
    );
    // A resource without a path has one metadata path.
    let root = ProtectedResource::new("https://baton.example.com").unwrap();
    assert_eq!(
        root.metadata_url(),
        "https://baton.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        root.metadata_paths(),
        ["/.well-known/oauth-protected-resource"]
    );
    // Ports are kept; the resource itself is echoed byte for byte.
    let local = ProtectedResource::new("http://127.0.0.1:8080/mcp").unwrap();
    assert_eq!(
        local.metadata_url(),
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        local.metadata_json(),
        r#"{"resource":"http://127.0.0.1:8080/mcp","scopes_supported":["research:read","research:write","tools:search"],"bearer_methods_supported":["header"]}"#
    );
    let doc: serde_json::Value = serde_json::from_str(&oauth_resource().metadata_json()).unwrap();
    assert_eq!(doc["resource"], "https://baton.example.com/mcp");
    assert_eq!(doc["authorization_servers"][0], "https://auth.example.com");
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert!(!oauth_resource().metadata_json().contains("offline_access"));
    assert_eq!(
        ProtectedResource::new("https://baton.example.com/mcp#x")
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidResourceUri
    );
}

#[test]
fn the_checker_rejects_what_the_grammar_forbids() {
    for bad in [
        "Basic realm=\"x\"",
        "Bearer  scope=\"a\"",
        "Bearer scope=a",
        "Bearer scope=\"a\",scope=\"b\"",
        "Bearer scope=\"a\", scope=\"b\"",
        "Bearer scope=\"a",
        "Bearer scope=\"a\"b\"",
    ] {
        assert!(
            parse_challenge(bad).is_err()
                || check_rfc_6750_values(&parse_challenge(bad).unwrap()).is_err(),
            "{bad}"
        );
    }
    assert!(check_rfc_6750_values(&parse_challenge(r#"Bearer scope="a  b""#).unwrap()).is_err());
    assert!(
        check_rfc_6750_values(&parse_challenge(r#"Bearer error_description="a\"b""#).unwrap())
            .is_err()
    );
}

proptest! {
    /// Any resource path and any error text give challenges that follow the grammar, whose
    /// quoted values unescape to what was meant.
    #[test]
    fn every_challenge_is_well_formed(
        path in "(/[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,12}){0,3}",
        port in proptest::option::of(1u16..),
        detail in "\\PC{0,40}",
        kind_index in 0usize..6,
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let uri = format!("https://baton.example.com{port}{path}");
        let Ok(resource) = ProtectedResource::new(&uri) else {
            return Ok(());
        };
        let resource = resource.with_authorization_servers(["https://auth.example.com"]);
        let kinds = [
            ErrorKind::MissingCredentials,
            ErrorKind::MalformedAuthorization,
            ErrorKind::TokenExpired,
            ErrorKind::UnknownApiKey,
            ErrorKind::InsufficientScope { needed: Scopes::all(), missing: Scopes::all() },
            ErrorKind::WrongAudience,
        ];
        let err = Error::with_detail(kinds[kind_index], detail);
        let rejection = resource.rejection(&err);
        let header = rejection.www_authenticate().unwrap();
        let params = parse_challenge(header).map_err(TestCaseError::fail)?;
        check_rfc_6750_values(&params).map_err(TestCaseError::fail)?;
        let metadata = params.iter().find(|(n, _)| n == "resource_metadata").unwrap();
        prop_assert_eq!(&metadata.1, resource.metadata_url());
        let response: Response<String> = rejection.into_response();
        prop_assert!(response.headers().get(WWW_AUTHENTICATE).is_some());
    }

    #[test]
    fn quoted_strings_unescape_to_their_input(value in "[\\t -~]{0,60}") {
        let mut header = String::from("Bearer x=");
        push_quoted(&mut header, &value);
        let params = parse_challenge(&header).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&params[0].1, &value);
    }
}
