//! What authenticating one request costs once keys are cached: a JWT per signature
//! algorithm, an API key through the cache, and the whole header-to-identity path.

use std::{
    hint::black_box,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use baton_auth::{
    ApiKeyRecord, Authenticator, CachedDirectory, MemoryApiKeyDirectory, NewApiKey, OAuthConfig,
    OAuthVerifier, PresentedApiKey, ProtectedResource, Scopes,
};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, JwkSet},
};

const RESOURCE: &str = "https://baton.example.com/mcp";
const ISSUER: &str = "https://auth.example.com";

fn signing_key(alg: Algorithm) -> EncodingKey {
    match alg {
        Algorithm::RS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("RSA key");
            let der: Pkcs8V1Der<'static> = pair.as_der().expect("PKCS#8");
            let pem = format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                data_encoding::BASE64.encode(der.as_ref())
            );
            EncodingKey::from_rsa_pem(pem.as_bytes()).expect("PEM")
        }
        Algorithm::ES256 => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            )
            .expect("EC key");
            EncodingKey::from_ec_der(pkcs8.as_ref())
        }
        _ => {
            let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .expect("Ed25519 key");
            EncodingKey::from_ed_der(pkcs8.as_ref())
        }
    }
}

/// A verifier with the key configured, and a token it accepts.
fn setup(alg: Algorithm) -> (OAuthVerifier, String) {
    let key = signing_key(alg);
    let mut jwk = Jwk::from_encoding_key(&key, alg).expect("JWK");
    jwk.common.key_id = Some("k".into());
    let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).expect("JWKS");
    let verifier = OAuthVerifier::new(OAuthConfig::new(RESOURCE).issuer_with_jwks(ISSUER, &jwks))
        .expect("verifier");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut header = Header::new(alg);
    header.kid = Some("k".into());
    header.typ = Some("at+jwt".into());
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": "user-7f3c2a90-1b4d-4e8f-9a21-0c5d6e7f8a9b",
        "aud": RESOURCE,
        "iat": now,
        "exp": now + 3600,
        "scope": "research:read research:write tools:search",
        "client_id": "bench",
        "jti": "5c0a9e1d-3f5b-4a7e-8d2c-1b6e9f0a4c3d",
    });
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("token");
    (verifier, token)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    for (name, alg) in [
        ("jwt/RS256", Algorithm::RS256),
        ("jwt/ES256", Algorithm::ES256),
        ("jwt/EdDSA", Algorithm::EdDSA),
    ] {
        let (verifier, token) = setup(alg);
        rt.block_on(verifier.verify(&token, SystemTime::now()))
            .expect("the token verifies");
        c.bench_function(name, |b| {
            b.iter(|| rt.block_on(verifier.verify(black_box(&token), SystemTime::now())))
        });
    }

    // API keys: parsing and hashing alone, then through a warm cache.
    let directory = Arc::new(MemoryApiKeyDirectory::new());
    let key = NewApiKey::generate();
    let record =
        ApiKeyRecord::new(&key, "alice", Scopes::all(), chrono::Utc::now(), None).expect("record");
    let stored_hash = record.hash.clone();
    directory.insert(record);
    c.bench_function("api_key/parse_and_verify", |b| {
        b.iter(|| {
            PresentedApiKey::parse(black_box(key.reveal()))
                .map(|presented| presented.verify(&stored_hash))
        })
    });

    let (oauth, token) = setup(Algorithm::RS256);
    let auth = Authenticator::builder(ProtectedResource::new(RESOURCE).expect("resource"))
        .api_keys(CachedDirectory::new(directory))
        .oauth(oauth)
        .build()
        .expect("authenticator");
    let header = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {value}")).expect("header"),
        );
        headers
    };
    let with_key = header(key.reveal());
    let with_token = header(&token);
    rt.block_on(auth.authenticate(&with_key))
        .expect("key accepted");
    c.bench_function("authenticate/api_key_cached", |b| {
        b.iter(|| rt.block_on(auth.authenticate(black_box(&with_key))))
    });
    c.bench_function("authenticate/jwt_RS256", |b| {
        b.iter(|| rt.block_on(auth.authenticate(black_box(&with_token))))
    });
    let no_credentials = HeaderMap::new();
    c.bench_function("authenticate/refused_no_credentials", |b| {
        b.iter(|| rt.block_on(auth.authenticate(black_box(&no_credentials))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
