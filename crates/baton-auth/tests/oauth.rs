//! The OAuth verifier against an issuer on 127.0.0.1 whose metadata and keys the test
//! controls: discovery, caching, bounded refresh, and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, SystemTime},
};

use baton_auth::{AuthMethod, ErrorKind, OAuthConfig, OAuthVerifier, Scope};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::{Metadata, MockIssuer, TestKey, b64, claims, unix_now};

const RESOURCE: &str = "https://baton.example.com/mcp";

fn verifier(config: OAuthConfig) -> OAuthVerifier {
    OAuthVerifier::new(config).unwrap()
}

async fn kind_of(verifier: &OAuthVerifier, token: &str) -> ErrorKind {
    *verifier
        .verify(token, SystemTime::now())
        .await
        .unwrap_err()
        .kind()
}

#[tokio::test]
async fn discovers_keys_through_rfc_8414_and_fetches_them_once() {
    let key = TestKey::rsa("k1");
    let issuer = MockIssuer::start(&[&key], Metadata::Rfc8414).await;
    let v = verifier(OAuthConfig::new(RESOURCE).issuer(issuer.url()));

    let token = key.sign(&claims(issuer.url(), RESOURCE, "user-1"));
    let identity = v.verify(&token, SystemTime::now()).await.unwrap();
    assert_eq!(
        identity.principal(),
        format!("oauth:{}#user-1", issuer.url())
    );
    assert!(identity.scopes().contains(Scope::ResearchRead));
    assert!(identity.scopes().contains(Scope::ToolsSearch));
    assert!(!identity.scopes().grants(Scope::ResearchWrite));
    assert_eq!(
        identity.method(),
        &AuthMethod::OAuth {
            issuer: issuer.url().to_owned(),
            client_id: Some("test-client".to_owned())
        }
    );
    // Many more requests, no more fetches.
    for _ in 0..50 {
        v.verify(&token, SystemTime::now()).await.unwrap();
    }
    assert_eq!(issuer.metadata_hits(), 1);
    assert_eq!(issuer.jwks_hits(), 1);
}

#[tokio::test]
async fn falls_back_to_openid_configuration() {
    let key = TestKey::es256("ec");
    // RFC 8414 first (a 404, or a page that is not metadata), then OpenID Connect.
    for mode in [Metadata::OidcOnly, Metadata::HtmlThenOidc] {
        let issuer = MockIssuer::start(&[&key], mode).await;
        let v = verifier(OAuthConfig::new(RESOURCE).issuer(issuer.url()));
        let token = key.sign(&claims(issuer.url(), RESOURCE, "user-2"));
        v.verify(&token, SystemTime::now()).await.unwrap();
        assert_eq!(issuer.metadata_hits(), 2, "{mode:?}");
    }
}

#[tokio::test]
async fn metadata_for_another_issuer_or_none_makes_keys_unavailable() {
    let key = TestKey::ed25519("ed");
    for mode in [Metadata::WrongIssuer, Metadata::Missing] {
        let issuer = MockIssuer::start(&[&key], mode).await;
        let v = verifier(OAuthConfig::new(RESOURCE).issuer(issuer.url()));
        let token = key.sign(&claims(issuer.url(), RESOURCE, "u"));
        let err = v.verify(&token, SystemTime::now()).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::KeySetUnavailable, "{mode:?}: {err}");
        assert_eq!(err.status(), 503);
        assert_eq!(issuer.jwks_hits(), 0, "{mode:?}");
        let prefetch = v.prefetch().await.unwrap_err();
        assert_eq!(prefetch.kind(), &ErrorKind::KeySetUnavailable);
    }
}

#[tokio::test]
async fn every_algorithm_family_verifies() {
    let keys = [
        TestKey::rsa_with(Algorithm::RS256, "rs256"),
        TestKey::rsa_with(Algorithm::PS256, "ps256"),
        TestKey::rsa_with(Algorithm::RS512, "rs512"),
        TestKey::es256("es256"),
        TestKey::ed25519("eddsa"),
    ];
    let refs: Vec<&TestKey> = keys.iter().collect();
    let issuer = MockIssuer::start(&refs, Metadata::Rfc8414).await;
    let v =
        verifier(OAuthConfig::new(RESOURCE).issuer_with_jwks_uri(issuer.url(), &issuer.jwks_uri()));
    for key in &keys {
        let token = key.sign(&claims(issuer.url(), RESOURCE, key.kid.as_str()));
        let identity = v.verify(&token, SystemTime::now()).await.unwrap();
        assert!(identity.principal().ends_with(&format!("#{}", key.kid)));
    }
    // A configured jwks_uri skips discovery.
    assert_eq!(issuer.metadata_hits(), 0);
    assert_eq!(issuer.jwks_hits(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refreshes_once_and_concurrent_misses_share_the_fetch() {
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    let issuer = MockIssuer::start(&[&old], Metadata::Rfc8414).await;
    let v = Arc::new(verifier(
        OAuthConfig::new(RESOURCE)
            .issuer(issuer.url())
            .min_refresh_interval(Duration::ZERO),
    ));
    v.verify(
        &old.sign(&claims(issuer.url(), RESOURCE, "u")),
        SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(issuer.jwks_hits(), 1);

    // The issuer rotates; its answer is slow, so the misses pile up behind one fetch.
    issuer.publish(&[&new, &old]);
    *issuer.state.jwks_delay.lock().unwrap() = Duration::from_millis(300);
    let token = new.sign(&claims(issuer.url(), RESOURCE, "u"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let v = v.clone();
            let token = token.clone();
            tokio::spawn(async move { v.verify(&token, SystemTime::now()).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(issuer.jwks_hits(), 2, "20 concurrent misses, one fetch");
    // The old key is still published, so its tokens still verify, without a fetch.
    v.verify(
        &old.sign(&claims(issuer.url(), RESOURCE, "u")),
        SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(issuer.jwks_hits(), 2);
}

#[tokio::test]
async fn refreshes_are_bounded_per_interval() {
    let key = TestKey::rsa("k");
    let forger = TestKey::rsa("forged-kid");
    let issuer = MockIssuer::start(&[&key], Metadata::Rfc8414).await;
    // A long interval: after the first fetch, no kid can cause another one.
    let v = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer(issuer.url())
            .min_refresh_interval(Duration::from_secs(3600)),
    );
    v.verify(
        &key.sign(&claims(issuer.url(), RESOURCE, "u")),
        SystemTime::now(),
    )
    .await
    .unwrap();
    for i in 0..10 {
        let mut header = forger.header();
        header.kid = Some(format!("unknown-{i}"));
        let token = forger.sign_with(&header, &claims(issuer.url(), RESOURCE, "u"));
        assert_eq!(kind_of(&v, &token).await, ErrorKind::UnknownSigningKey);
    }
    assert_eq!(issuer.jwks_hits(), 1);

    // A short interval: once it has passed, the next miss may fetch again, and a rotated
    // key is picked up.
    let rotated = TestKey::rsa("rotated");
    let v = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer(issuer.url())
            .min_refresh_interval(Duration::from_millis(500)),
    );
    v.prefetch().await.unwrap();
    let fetched = issuer.jwks_hits();
    issuer.publish(&[&rotated, &key]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let token = rotated.sign(&claims(issuer.url(), RESOURCE, "u"));
    v.verify(&token, SystemTime::now()).await.unwrap();
    assert_eq!(issuer.jwks_hits(), fetched + 1);
}

#[tokio::test]
async fn stale_keys_are_refreshed_and_kept_while_the_issuer_is_down() {
    let key = TestKey::es256("k");
    let issuer = MockIssuer::start(&[&key], Metadata::Rfc8414).await;
    let v = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer(issuer.url())
            .max_key_set_age(Duration::from_millis(300))
            .min_refresh_interval(Duration::ZERO),
    );
    let token = key.sign(&claims(issuer.url(), RESOURCE, "u"));
    v.verify(&token, SystemTime::now()).await.unwrap();
    assert_eq!(issuer.jwks_hits(), 1);

    tokio::time::sleep(Duration::from_millis(400)).await;
    v.verify(&token, SystemTime::now()).await.unwrap();
    assert_eq!(issuer.jwks_hits(), 2, "a stale key set is fetched again");

    issuer.state.jwks_status.store(500, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    v.verify(&token, SystemTime::now()).await.unwrap();
    assert_eq!(issuer.jwks_hits(), 3, "the refresh was tried");
    // The failed refresh changed nothing: the known key still verifies.
    v.verify(&token, SystemTime::now()).await.unwrap();
}

#[tokio::test]
async fn refusals() {
    let key = TestKey::rsa("k");
    let issuer = MockIssuer::start(&[&key], Metadata::Rfc8414).await;
    let v = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer_with_jwks_uri(issuer.url(), &issuer.jwks_uri())
            .leeway(Duration::from_secs(30)),
    );
    let iss = issuer.url();
    let good = claims(iss, RESOURCE, "u");
    let with = |field: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[field] = value;
        key.sign(&c)
    };
    let without = |field: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        key.sign(&c)
    };
    let now = unix_now();

    // Audience: another resource, a near miss, or several others; one matching entry in an
    // array is enough.
    assert_eq!(
        kind_of(&v, &with("aud", json!("https://other.example/mcp"))).await,
        ErrorKind::WrongAudience
    );
    assert_eq!(
        kind_of(&v, &with("aud", json!("https://baton.example.com/mcp/"))).await,
        ErrorKind::WrongAudience
    );
    assert_eq!(
        kind_of(&v, &with("aud", json!(["a", "b"]))).await,
        ErrorKind::WrongAudience
    );
    v.verify(
        &with("aud", json!(["https://other.example", RESOURCE])),
        SystemTime::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        kind_of(&v, &without("aud")).await,
        ErrorKind::MissingClaim("aud")
    );

    // Times, with the 30 s leeway.
    assert_eq!(
        kind_of(&v, &with("exp", json!(now - 31))).await,
        ErrorKind::TokenExpired
    );
    v.verify(&with("exp", json!(now - 20)), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        kind_of(&v, &with("nbf", json!(now + 60))).await,
        ErrorKind::TokenNotYetValid
    );
    v.verify(&with("nbf", json!(now + 20)), SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        kind_of(&v, &with("exp", json!("soon"))).await,
        ErrorKind::MissingClaim("exp")
    );
    assert_eq!(
        kind_of(&v, &without("exp")).await,
        ErrorKind::MissingClaim("exp")
    );

    // Issuer and subject.
    assert_eq!(
        kind_of(&v, &with("iss", json!("https://evil.example"))).await,
        ErrorKind::UnknownIssuer
    );
    assert_eq!(
        kind_of(&v, &with("iss", json!([iss]))).await,
        ErrorKind::InvalidClaim("iss")
    );
    assert_eq!(
        kind_of(&v, &without("iss")).await,
        ErrorKind::MissingClaim("iss")
    );
    assert_eq!(
        kind_of(&v, &without("sub")).await,
        ErrorKind::MissingClaim("sub")
    );
    assert_eq!(
        kind_of(&v, &with("sub", json!(""))).await,
        ErrorKind::InvalidClaim("sub")
    );
    assert_eq!(
        kind_of(&v, &with("sub", json!("x".repeat(257)))).await,
        ErrorKind::InvalidClaim("sub")
    );
    assert_eq!(
        kind_of(&v, &with("scope", json!(["research:read"]))).await,
        ErrorKind::InvalidClaim("scope")
    );

    // Shape and size.
    assert_eq!(kind_of(&v, "not-a-jwt").await, ErrorKind::MalformedToken);
    assert_eq!(kind_of(&v, "a.b.c").await, ErrorKind::MalformedToken);
    assert_eq!(
        kind_of(&v, &"a".repeat(9000)).await,
        ErrorKind::TokenTooLong
    );

    // A tampered payload: the signature no longer verifies.
    let token = key.sign(&good);
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged_claims = good.clone();
    forged_claims["sub"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged_claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(kind_of(&v, &tampered).await, ErrorKind::BadSignature);

    // No request was made for the unknown issuer, nor more than one for the keys.
    assert_eq!(issuer.jwks_hits(), 1);
}

#[tokio::test]
async fn algorithm_attacks_are_refused() {
    let key = TestKey::rsa("k");
    let issuer = MockIssuer::start(&[&key], Metadata::Rfc8414).await;
    let v = verifier(OAuthConfig::new(RESOURCE).issuer(issuer.url()));
    let claims = claims(issuer.url(), RESOURCE, "u");
    let payload = b64(claims.to_string().as_bytes());

    // alg: none, with and without a signature part.
    let none_header = b64(br#"{"alg":"none","typ":"at+jwt","kid":"k"}"#);
    for token in [
        format!("{none_header}.{payload}."),
        format!("{none_header}.{payload}"),
    ] {
        let kind = kind_of(&v, &token).await;
        assert!(
            matches!(
                kind,
                ErrorKind::UnsupportedAlgorithm | ErrorKind::MalformedToken
            ),
            "{kind:?}"
        );
    }
    assert_eq!(
        kind_of(&v, &format!("{none_header}.{payload}.")).await,
        ErrorKind::UnsupportedAlgorithm
    );

    // HS256 "signed" with the public key's modulus as the HMAC secret (key confusion).
    let modulus = match &key.jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => rsa.n.clone(),
        _ => unreachable!(),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k".into());
    let hs = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(modulus.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(kind_of(&v, &hs).await, ErrorKind::UnsupportedAlgorithm);

    // An algorithm that is not configured.
    let only_es = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer(issuer.url())
            .algorithms([baton_auth::Algorithm::ES256]),
    );
    assert_eq!(
        kind_of(&only_es, &key.sign(&claims)).await,
        ErrorKind::UnsupportedAlgorithm
    );

    // The right kid with another algorithm of the same family does not match the JWK's alg.
    let mut ps = key.header();
    ps.alg = Algorithm::PS256;
    let token = key.sign_with(&ps, &claims);
    assert_eq!(kind_of(&v, &token).await, ErrorKind::UnknownSigningKey);

    // Keys named by the token itself are never used.
    let attacker = TestKey::rsa("k");
    let attacker_site = MockIssuer::start(&[&attacker], Metadata::Rfc8414).await;
    let mut header = attacker.header();
    header.jku = Some(attacker_site.jwks_uri());
    header.jwk = Some(attacker.jwk.clone());
    let token = attacker.sign_with(&header, &claims);
    assert_eq!(kind_of(&v, &token).await, ErrorKind::BadSignature);
    assert_eq!(attacker_site.jwks_hits(), 0);
}

#[tokio::test]
async fn the_access_token_type_can_be_required() {
    let key = TestKey::es256("k");
    let jwks = support::jwks(&[&key]);
    let iss = "https://auth.example.com";
    let strict = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer_with_jwks(iss, &jwks)
            .require_access_token_type(true),
    );
    let lenient = verifier(OAuthConfig::new(RESOURCE).issuer_with_jwks(iss, &jwks));
    let mut header = key.header();
    header.typ = Some("JWT".into());
    let plain = key.sign_with(&header, &claims(iss, RESOURCE, "u"));
    assert_eq!(kind_of(&strict, &plain).await, ErrorKind::WrongTokenType);
    lenient.verify(&plain, SystemTime::now()).await.unwrap();
    strict
        .verify(&key.sign(&claims(iss, RESOURCE, "u")), SystemTime::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn scp_arrays_and_strings_add_scopes() {
    let key = TestKey::ed25519("k");
    let iss = "https://auth.example.com";
    let v = verifier(OAuthConfig::new(RESOURCE).issuer_with_jwks(iss, &support::jwks(&[&key])));
    let mut c = claims(iss, RESOURCE, "u");
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["research:write", "unknown"]);
    let identity = v.verify(&key.sign(&c), SystemTime::now()).await.unwrap();
    assert!(identity.scopes().grants(Scope::ResearchRead));
    assert!(!identity.scopes().grants(Scope::ToolsSearch));
    c["scp"] = json!("tools:search");
    let identity = v.verify(&key.sign(&c), SystemTime::now()).await.unwrap();
    assert_eq!(identity.scopes().to_string(), "tools:search");
    c["scp"] = json!([1]);
    assert_eq!(
        kind_of(&v, &key.sign(&c)).await,
        ErrorKind::InvalidClaim("scp")
    );
}

#[tokio::test]
async fn two_issuers_never_share_a_principal() {
    let a_key = TestKey::es256("a");
    let b_key = TestKey::es256("b");
    let (a, b) = ("https://a.example", "https://b.example");
    let v = verifier(
        OAuthConfig::new(RESOURCE)
            .issuer_with_jwks(a, &support::jwks(&[&a_key]))
            .issuer_with_jwks(b, &support::jwks(&[&b_key])),
    );
    let from_a = v
        .verify(&a_key.sign(&claims(a, RESOURCE, "42")), SystemTime::now())
        .await
        .unwrap();
    let from_b = v
        .verify(&b_key.sign(&claims(b, RESOURCE, "42")), SystemTime::now())
        .await
        .unwrap();
    assert_ne!(from_a.principal(), from_b.principal());
    // B's key cannot sign for A: A publishes no key "b".
    assert_eq!(
        kind_of(&v, &b_key.sign(&claims(a, RESOURCE, "42"))).await,
        ErrorKind::UnknownSigningKey
    );
}

#[test]
fn configurations_are_checked() {
    let cases = [
        (
            OAuthConfig::new("not a uri").issuer("https://a.example"),
            ErrorKind::InvalidResourceUri,
        ),
        (OAuthConfig::new(RESOURCE), ErrorKind::NoIssuers),
        (
            OAuthConfig::new(RESOURCE).issuer("http://a.example"),
            ErrorKind::InvalidIssuer,
        ),
        (
            OAuthConfig::new(RESOURCE)
                .issuer_with_jwks_uri("https://a.example", "http://a.example/jwks"),
            ErrorKind::InvalidJwksUri,
        ),
        (
            OAuthConfig::new(RESOURCE).issuer_with_jwks("https://a.example", r#"{"keys":[]}"#),
            ErrorKind::InvalidKeySet,
        ),
        (
            OAuthConfig::new(RESOURCE)
                .issuer("https://a.example")
                .algorithms([]),
            ErrorKind::NoAlgorithms,
        ),
    ];
    for (config, kind) in cases {
        let err = OAuthVerifier::new(config).unwrap_err();
        assert_eq!(err.kind(), &kind, "{err}");
    }
}
