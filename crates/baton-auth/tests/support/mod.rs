//! Test helpers: signing keys, tokens, and a small issuer on 127.0.0.1 whose metadata and
//! key set the test controls and whose requests it counts. The real authorization server
//! (oidc-provider) is `baton_devtools::OidcProvider`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet},
};
use serde_json::{Value, json};

/// A signing key with its public JWK.
pub struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl TestKey {
    fn new(alg: Algorithm, kid: &str, encoding: EncodingKey) -> TestKey {
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        TestKey {
            alg,
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    pub fn rsa(kid: &str) -> TestKey {
        TestKey::rsa_with(Algorithm::RS256, kid)
    }

    pub fn rsa_with(alg: Algorithm, kid: &str) -> TestKey {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der<'static> = pair.as_der().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            data_encoding::BASE64.encode(der.as_ref())
        );
        TestKey::new(alg, kid, EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap())
    }

    pub fn es256(kid: &str) -> TestKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        TestKey::new(
            Algorithm::ES256,
            kid,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
    }

    pub fn ed25519(kid: &str) -> TestKey {
        let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate()
            .unwrap()
            .to_pkcs8v1()
            .unwrap();
        TestKey::new(
            Algorithm::EdDSA,
            kid,
            EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
    }

    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some("at+jwt".to_owned());
        header
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(&self.header(), claims)
    }

    pub fn sign_with(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }
}

/// A JWKS document of the keys' public halves.
pub fn jwks(keys: &[&TestKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `sub` at `issuer` for `audience`, valid for five minutes.
pub fn claims(issuer: &str, audience: &str, sub: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer,
        "sub": sub,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "scope": "research:read tools:search",
        "client_id": "test-client",
    })
}

pub fn b64(bytes: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(bytes)
}

/// How the mock issuer publishes its metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metadata {
    /// At `/.well-known/oauth-authorization-server` (RFC 8414).
    Rfc8414,
    /// Only at `/.well-known/openid-configuration`.
    OidcOnly,
    /// An HTML page with status 200 at the RFC 8414 location (a web server that answers
    /// every path), the real metadata at `/.well-known/openid-configuration`.
    HtmlThenOidc,
    /// RFC 8414 metadata naming another issuer.
    WrongIssuer,
    /// Nowhere.
    Missing,
}

pub struct IssuerState {
    pub url: String,
    pub jwks: Mutex<String>,
    pub metadata: Mutex<Metadata>,
    /// Status of `/jwks` answers (200 normally).
    pub jwks_status: AtomicU16,
    /// Delay before `/jwks` answers.
    pub jwks_delay: Mutex<Duration>,
    pub jwks_hits: AtomicUsize,
    pub metadata_hits: AtomicUsize,
}

/// An issuer on 127.0.0.1 serving metadata and `/jwks`; stops when dropped.
pub struct MockIssuer {
    pub state: Arc<IssuerState>,
    server: tokio::task::JoinHandle<()>,
}

impl MockIssuer {
    pub async fn start(keys: &[&TestKey], metadata: Metadata) -> MockIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let state = Arc::new(IssuerState {
            url: format!("http://{addr}"),
            jwks: Mutex::new(jwks(keys)),
            metadata: Mutex::new(metadata),
            jwks_status: AtomicU16::new(200),
            jwks_delay: Mutex::new(Duration::ZERO),
            jwks_hits: AtomicUsize::new(0),
            metadata_hits: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(rfc8414))
            .route("/.well-known/openid-configuration", get(oidc))
            .route("/jwks", get(serve_jwks))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockIssuer { state, server }
    }

    pub fn url(&self) -> &str {
        &self.state.url
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.state.url)
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        *self.state.jwks.lock().unwrap() = jwks(keys);
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    pub fn metadata_hits(&self) -> usize {
        self.state.metadata_hits.load(Ordering::SeqCst)
    }
}

impl Drop for MockIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn metadata_doc(state: &IssuerState, issuer: &str) -> String {
    json!({ "issuer": issuer, "jwks_uri": format!("{}/jwks", state.url) }).to_string()
}

async fn rfc8414(State(state): State<Arc<IssuerState>>) -> impl IntoResponse {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.metadata.lock().unwrap();
    match mode {
        Metadata::Rfc8414 => (StatusCode::OK, metadata_doc(&state, &state.url)),
        Metadata::WrongIssuer => (StatusCode::OK, metadata_doc(&state, "https://evil.example")),
        Metadata::HtmlThenOidc => (StatusCode::OK, "<!doctype html><p>app</p>".to_owned()),
        Metadata::OidcOnly | Metadata::Missing => (StatusCode::NOT_FOUND, String::new()),
    }
}

async fn oidc(State(state): State<Arc<IssuerState>>) -> impl IntoResponse {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.metadata.lock().unwrap();
    match mode {
        Metadata::OidcOnly | Metadata::HtmlThenOidc => {
            (StatusCode::OK, metadata_doc(&state, &state.url))
        }
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

async fn serve_jwks(State(state): State<Arc<IssuerState>>) -> impl IntoResponse {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let delay = *state.jwks_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = StatusCode::from_u16(state.jwks_status.load(Ordering::SeqCst)).unwrap();
    let body = state.jwks.lock().unwrap().clone();
    (status, body)
}
