//! Against a real authorization server: oidc-provider (npm), issuing JWT access tokens with
//! the client-credentials grant and resource indicators (`baton_devtools::OidcProvider`,
//! running `tests/clients/oidc/provider.mjs`). When it cannot be installed the test fails
//! under CI and is skipped elsewhere (`baton_devtools::skip_or_fail`). Its tokens are accepted; tokens for another audience,
//! expired ones, ones signed by another key and `alg: none` are refused; a key rotation at
//! the provider is picked up through the bounded refresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use baton_auth::{
    AuthMethod, Authenticator, ErrorKind, OAuthConfig, OAuthVerifier, ProtectedResource, Scope,
};
use baton_devtools::{
    OIDC_CLIENT as CLIENT, OIDC_ES256_CLIENT as ES256_CLIENT,
    OIDC_SHORT_LIVED_CLIENT as SHORT_LIVED_CLIENT, OidcInstall, OidcProvider,
};
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use jsonwebtoken::Algorithm;
use serde_json::Value;
use support::{TestKey, b64};

/// The audience this test chooses for baton.
const RESOURCE: &str = "https://baton.test/mcp";
const ALL: &str = "research:read research:write tools:search";

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn claims_of(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap()
}

fn header_of(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).unwrap()
}

async fn refused(verifier: &OAuthVerifier, token: &str) -> ErrorKind {
    *verifier
        .verify(token, SystemTime::now())
        .await
        .expect_err("the token must be refused")
        .kind()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_real_authorization_server() {
    let started = Instant::now();
    // Shown with --nocapture or on failure: where the time went.
    let step = |what: &str| eprintln!("[{:>6.2}s] {what}", started.elapsed().as_secs_f64());
    let install = match tokio::task::spawn_blocking(OidcInstall::install)
        .await
        .unwrap()
    {
        Ok(install) => install,
        Err(e) => {
            return baton_devtools::skip_or_fail(&format!(
                "oidc-provider could not be installed (no npm registry access?): {e}"
            ));
        }
    };
    let workdir = tempfile::tempdir().unwrap();
    let keys_file = workdir.path().join("provider-keys.json");
    let mut provider = {
        let k = keys_file.clone();
        // Installed but not starting is a failure everywhere, not a skip.
        tokio::task::spawn_blocking(move || OidcProvider::start(&install, &k, 0))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the installed oidc-provider starts: {e}"))
    };
    let issuer = provider.issuer.clone();
    step("provider started");

    // Discovery through the provider's RFC 8414 metadata; the default 60 s leeway.
    let verifier = OAuthVerifier::new(OAuthConfig::new(RESOURCE).issuer(&issuer)).unwrap();
    let auth = Authenticator::builder(ProtectedResource::new(RESOURCE).unwrap())
        .oauth(verifier)
        .build()
        .unwrap();
    let verifier = auth.oauth().unwrap();

    // 1. Its tokens are accepted: principal and scopes right, through the HTTP header.
    let token = provider
        .token(CLIENT, RESOURCE, "research:read tools:search")
        .await
        .unwrap();
    assert_eq!(header_of(&token).alg, Algorithm::RS256);
    let identity = auth.authenticate(&bearer(&token)).await.unwrap();
    assert_eq!(identity.principal(), format!("oauth:{issuer}#baton-test"));
    assert_eq!(identity.scopes().to_string(), "research:read tools:search");
    assert_eq!(
        identity.method(),
        &AuthMethod::OAuth {
            issuer: issuer.clone(),
            client_id: Some("baton-test".into())
        }
    );
    let writer = provider
        .token(CLIENT, RESOURCE, "research:write")
        .await
        .unwrap();
    let identity = auth.authenticate(&bearer(&writer)).await.unwrap();
    assert!(identity.scopes().grants(Scope::ResearchRead));
    assert!(!identity.scopes().grants(Scope::ToolsSearch));
    let es = provider.token(ES256_CLIENT, RESOURCE, ALL).await.unwrap();
    assert_eq!(header_of(&es).alg, Algorithm::ES256);
    let identity = auth.authenticate(&bearer(&es)).await.unwrap();
    assert_eq!(identity.principal(), format!("oauth:{issuer}#baton-es256"));
    assert_eq!(identity.scopes().to_string(), ALL);
    // One key-set fetch served all of them.
    assert_eq!(provider.jwks_requests().await.unwrap(), 1);

    step("1. tokens accepted");
    // 2. A token for another audience is refused.
    let other = provider
        .token(CLIENT, "https://other.test/mcp", ALL)
        .await
        .unwrap();
    assert_eq!(claims_of(&other)["aud"], "https://other.test/mcp");
    assert_eq!(refused(verifier, &other).await, ErrorKind::WrongAudience);

    // 3. An expired token is refused (leeway 0 here; the client's tokens live 2 s).
    let strict = OAuthVerifier::new(
        OAuthConfig::new(RESOURCE)
            .issuer(&issuer)
            .leeway(Duration::ZERO),
    )
    .unwrap();
    let short = provider
        .token(SHORT_LIVED_CLIENT, RESOURCE, ALL)
        .await
        .unwrap();
    let exp = claims_of(&short)["exp"].as_u64().unwrap();
    let before_exp = UNIX_EPOCH + Duration::from_secs(exp - 1);
    strict.verify(&short, before_exp).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while SystemTime::now() < UNIX_EPOCH + Duration::from_secs(exp) {
        assert!(Instant::now() < deadline, "the clock did not pass exp");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(refused(&strict, &short).await, ErrorKind::TokenExpired);

    step("3. expired token refused");
    // 4. A token signed by another key (same kid, same alg, same claims) is refused.
    let local = TestKey::rsa("local");
    let forged = local.sign_with(&header_of(&token), &claims_of(&token));
    assert_eq!(refused(verifier, &forged).await, ErrorKind::BadSignature);

    // 5. alg: none is refused.
    let payload = token.split('.').nth(1).unwrap();
    let none_header = serde_json::json!({
        "alg": "none",
        "typ": "at+jwt",
        "kid": header_of(&token).kid,
    });
    let unsigned = format!("{}.{payload}.", b64(none_header.to_string().as_bytes()));
    assert_eq!(
        refused(verifier, &unsigned).await,
        ErrorKind::UnsupportedAlgorithm
    );
    // Two verifiers so far (`auth`'s and `strict`), one fetch each.
    assert_eq!(provider.jwks_requests().await.unwrap(), 2);

    // 6. Key rotation: restart the provider (same port, same issuer) with a new signing key
    // first; the old one stays published.
    let old_kids = provider.kids.clone();
    // A verifier whose refresh bound is one hour fetches now, then never again.
    let bounded = OAuthVerifier::new(
        OAuthConfig::new(RESOURCE)
            .issuer(&issuer)
            .min_refresh_interval(Duration::from_secs(3600)),
    )
    .unwrap();
    bounded.prefetch().await.unwrap();
    // One whose bound is 1 s picks the new key up once that second has passed.
    let refreshing = OAuthVerifier::new(
        OAuthConfig::new(RESOURCE)
            .issuer(&issuer)
            .min_refresh_interval(Duration::from_secs(1)),
    )
    .unwrap();
    refreshing.prefetch().await.unwrap();
    let fetched_at = Instant::now();
    step("6. verifiers prefetched");
    provider = tokio::task::spawn_blocking(move || {
        let mut p = provider;
        p.restart_with_new_key().map(|()| p)
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("the provider restarts: {e}"));
    assert_eq!(provider.issuer, issuer);
    step("provider restarted with a new key");
    let new_kid = provider.kids[0].clone();
    assert!(!old_kids.contains(&new_kid));
    let rotated = provider.token(CLIENT, RESOURCE, ALL).await.unwrap();
    assert_eq!(header_of(&rotated).kid.as_deref(), Some(new_kid.as_str()));

    // The bounded verifier does not fetch: the new kid is unknown to it.
    assert_eq!(
        refused(&bounded, &rotated).await,
        ErrorKind::UnknownSigningKey
    );
    assert_eq!(
        refused(&bounded, &rotated).await,
        ErrorKind::UnknownSigningKey
    );
    assert_eq!(
        provider.jwks_requests().await.unwrap(),
        0,
        "the restarted provider saw no fetch"
    );
    // The old token still verifies everywhere (the old key is still published).
    bounded.verify(&token, SystemTime::now()).await.unwrap();

    // The refreshing verifier fetches once its second has passed, and accepts the new kid.
    let wait = Duration::from_millis(1100).saturating_sub(fetched_at.elapsed());
    tokio::time::sleep(wait).await;
    let identity = refreshing
        .verify(&rotated, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(identity.principal(), format!("oauth:{issuer}#baton-test"));
    assert_eq!(provider.jwks_requests().await.unwrap(), 1);
    refreshing.verify(&token, SystemTime::now()).await.unwrap();
    refreshing
        .verify(&rotated, SystemTime::now())
        .await
        .unwrap();
    assert_eq!(
        provider.jwks_requests().await.unwrap(),
        1,
        "no fetch per request"
    );
    step("rotation picked up");
}
