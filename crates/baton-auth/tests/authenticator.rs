//! The authenticator with both methods, and the tower layer in front of a service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use baton_auth::{
    ApiKeyDirectory, ApiKeyId, ApiKeyRecord, AuthLayer, AuthMethod, Authenticator, CachedDirectory,
    DirectoryError, ErrorKind, Identity, MemoryApiKeyDirectory, NewApiKey, OAuthConfig,
    OAuthVerifier, ProtectedResource, Scope, Scopes,
};
use chrono::Utc;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use support::{TestKey, claims};
use tower::{Layer, Service, ServiceExt, service_fn};

const RESOURCE: &str = "https://baton.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";
const META: &str = "https://baton.example.com/.well-known/oauth-protected-resource/mcp";

fn bearer(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {value}")).unwrap(),
    );
    headers
}

struct Setup {
    auth: Arc<Authenticator>,
    directory: Arc<MemoryApiKeyDirectory>,
    signing: TestKey,
    key: NewApiKey,
}

fn setup(api_keys: bool, oauth: bool) -> Setup {
    let signing = TestKey::es256("k");
    let directory = Arc::new(MemoryApiKeyDirectory::new());
    let key = NewApiKey::generate();
    directory.insert(
        ApiKeyRecord::new(
            &key,
            "alice",
            Scopes::from_iter([Scope::ResearchWrite]),
            Utc::now(),
            None,
        )
        .unwrap(),
    );
    let mut builder = Authenticator::builder(ProtectedResource::new(RESOURCE).unwrap());
    if api_keys {
        builder =
            builder.api_keys(CachedDirectory::new(directory.clone()).with_ttl(Duration::ZERO));
    }
    if oauth {
        let config =
            OAuthConfig::new(RESOURCE).issuer_with_jwks(ISSUER, &support::jwks(&[&signing]));
        builder = builder.oauth(OAuthVerifier::new(config).unwrap());
    }
    Setup {
        auth: Arc::new(builder.build().unwrap()),
        directory,
        signing,
        key,
    }
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Authenticator>();
    check::<OAuthVerifier>();
    check::<Identity>();
    check::<baton_auth::Error>();
    check::<CachedDirectory<MemoryApiKeyDirectory>>();
}

#[tokio::test]
async fn both_methods_route_by_the_shape_of_the_bearer_value() {
    let s = setup(true, true);
    let by_key = s.auth.authenticate(&bearer(s.key.reveal())).await.unwrap();
    assert_eq!(by_key.principal(), "key:alice");
    assert!(by_key.scopes().grants(Scope::ResearchRead));
    assert_eq!(
        by_key.method(),
        &AuthMethod::ApiKey {
            key_id: s.key.id().clone()
        }
    );

    let token = s.signing.sign(&claims(ISSUER, RESOURCE, "bob"));
    let by_token = s.auth.authenticate(&bearer(&token)).await.unwrap();
    assert_eq!(by_token.principal(), "oauth:https://auth.example.com#bob");

    // With OAuth configured, the metadata lists the issuer.
    assert_eq!(
        s.auth.protected_resource().authorization_servers(),
        [ISSUER.to_owned()]
    );
}

#[tokio::test]
async fn each_method_alone_refuses_the_other() {
    let keys_only = setup(true, false);
    let token = keys_only.signing.sign(&claims(ISSUER, RESOURCE, "bob"));
    let err = keys_only
        .auth
        .authenticate(&bearer(&token))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::OAuthNotAccepted);
    assert_eq!(err.status(), 401);

    let oauth_only = setup(false, true);
    let err = oauth_only
        .auth
        .authenticate(&bearer(oauth_only.key.reveal()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ApiKeysNotAccepted);

    assert_eq!(
        Authenticator::builder(ProtectedResource::new(RESOURCE).unwrap())
            .build()
            .unwrap_err()
            .kind(),
        &ErrorKind::NoMethods
    );
    let mismatched = OAuthVerifier::new(
        OAuthConfig::new("https://other.example/mcp")
            .issuer_with_jwks(ISSUER, &support::jwks(&[&oauth_only.signing])),
    )
    .unwrap();
    assert_eq!(
        Authenticator::builder(ProtectedResource::new(RESOURCE).unwrap())
            .oauth(mismatched)
            .build()
            .unwrap_err()
            .kind(),
        &ErrorKind::InvalidResourceUri
    );
}

#[tokio::test]
async fn api_keys_unknown_revoked_and_expired() {
    let s = setup(true, true);
    let stranger = NewApiKey::generate();
    let err = s
        .auth
        .authenticate(&bearer(stranger.reveal()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::UnknownApiKey);

    // A wrong secret for a real id gets the same answer as an unknown id.
    let real = s.key.reveal();
    let (id_part, _) = real.rsplit_once('_').unwrap();
    let other_secret = stranger.reveal().rsplit_once('_').unwrap().1;
    let spliced = format!("{id_part}_{other_secret}");
    let err = s.auth.authenticate(&bearer(&spliced)).await.unwrap_err();
    // The checksum covers the id, so a spliced key is malformed before any lookup.
    assert_eq!(err.kind(), &ErrorKind::MalformedApiKey);

    let now = Utc::now();
    let mut expiring = ApiKeyRecord::new(
        &stranger,
        "carol",
        Scopes::all(),
        now,
        Some(now + chrono::Duration::hours(1)),
    )
    .unwrap();
    expiring.hash = s.key.hash().clone();
    s.directory.insert(expiring);
    let err = s
        .auth
        .authenticate(&bearer(stranger.reveal()))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::UnknownApiKey,
        "a hash of another key"
    );

    let later = SystemTime::now() + Duration::from_secs(7200);
    let fresh = NewApiKey::generate();
    s.directory.insert(
        ApiKeyRecord::new(
            &fresh,
            "dave",
            Scopes::all(),
            now,
            Some(now + chrono::Duration::hours(1)),
        )
        .unwrap(),
    );
    assert!(s.auth.authenticate(&bearer(fresh.reveal())).await.is_ok());
    let err = s
        .auth
        .authenticate_at(&bearer(fresh.reveal()), later)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ApiKeyExpired);

    s.directory.revoke(s.key.id(), Utc::now());
    let err = s
        .auth
        .authenticate(&bearer(s.key.reveal()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::ApiKeyRevoked);
    assert!(!format!("{err} {err:?}").contains(s.key.reveal()));
}

struct Broken;

#[async_trait]
impl ApiKeyDirectory for Broken {
    async fn find(&self, _: &ApiKeyId) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        Err("the store is unreachable".into())
    }
}

#[tokio::test]
async fn a_failing_directory_is_a_503_not_a_401() {
    let auth = Authenticator::builder(ProtectedResource::new(RESOURCE).unwrap())
        .api_keys(CachedDirectory::new(Broken))
        .build()
        .unwrap();
    let err = auth
        .authenticate(&bearer(NewApiKey::generate().reveal()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::DirectoryUnavailable);
    assert_eq!(
        err.to_string(),
        "the API key directory cannot be read now; retry later: the store is unreachable"
    );
    let rejection = auth.rejection(&err);
    assert_eq!(rejection.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rejection.www_authenticate(), None);
}

type Seen = Arc<Mutex<Vec<Identity>>>;

fn service(
    auth: Arc<Authenticator>,
    seen: Seen,
) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone {
    let inner = service_fn(move |request: Request<String>| {
        let seen = seen.clone();
        async move {
            let identity = request
                .extensions()
                .get::<Identity>()
                .cloned()
                .expect("identity");
            seen.lock().unwrap().push(identity);
            Ok::<_, Infallible>(Response::new("ok".to_owned()))
        }
    });
    AuthLayer::new(auth).layer(inner)
}

fn request(authorization: Option<&str>) -> Request<String> {
    let mut builder = Request::builder().method("POST").uri("/mcp");
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body("{}".to_owned()).unwrap()
}

#[tokio::test]
async fn the_layer_passes_identities_on_and_answers_refusals_itself() {
    let s = setup(true, true);
    let seen = Seen::default();
    let svc = service(s.auth.clone(), seen.clone());

    let ok = svc
        .clone()
        .oneshot(request(Some(&format!("Bearer {}", s.key.reveal()))))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(seen.lock().unwrap()[0].principal(), "key:alice");

    let none = svc.clone().oneshot(request(None)).await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()[header::WWW_AUTHENTICATE],
        format!(
            r#"Bearer resource_metadata="{META}", scope="research:read research:write tools:search""#
        )
    );

    let mut expired_claims = claims(ISSUER, RESOURCE, "bob");
    expired_claims["exp"] = serde_json::json!(support::unix_now() - 3600);
    let expired = s.signing.sign(&expired_claims);
    let refused = svc
        .clone()
        .oneshot(request(Some(&format!("Bearer {expired}"))))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers()[header::WWW_AUTHENTICATE],
        format!(
            r#"Bearer error="invalid_token", error_description="the access token has expired", resource_metadata="{META}", scope="research:read research:write tools:search""#
        )
    );
    assert!(!refused.body().contains(&expired));

    let basic = svc
        .clone()
        .oneshot(request(Some("Basic YTpi")))
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let malformed = svc
        .clone()
        .oneshot(request(Some("Bearer a b")))
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    // A token in the query string is never looked at (RFC 6750 §2.3 is not supported).
    let mut in_query = request(None);
    *in_query.uri_mut() = format!("/mcp?access_token={}", s.key.reveal())
        .parse()
        .unwrap();
    let in_query = svc.clone().oneshot(in_query).await.unwrap();
    assert_eq!(in_query.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !in_query.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=")
    );

    // Only the accepted request reached the service.
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_403_for_a_scope_names_every_needed_scope() {
    let s = setup(true, true);
    let token = s.signing.sign(&claims(ISSUER, RESOURCE, "bob")); // research:read tools:search
    let identity = s.auth.authenticate(&bearer(&token)).await.unwrap();
    let needed = Scopes::from_iter([Scope::ResearchWrite, Scope::ToolsSearch]);
    let err = identity.require(needed).unwrap_err();
    let rejection = s.auth.rejection(&err);
    assert_eq!(rejection.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.www_authenticate().unwrap(),
        format!(
            r#"Bearer error="insufficient_scope", scope="research:write tools:search", resource_metadata="{META}", error_description="insufficient scope: the request needs 'research:write tools:search', the token lacks 'research:write'""#
        )
    );
}
