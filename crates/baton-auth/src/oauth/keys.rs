//! An issuer's signing keys: parsing a JWKS, and keeping it fresh with bounded refreshes.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    AlgorithmFamily, DecodingKey,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse},
};
use tokio::{sync::Mutex, time::Instant};
use url::Url;

use super::{config::Algorithm, fetch::Fetcher};
use crate::error::{Error, ErrorKind};

/// The most keys kept from one JWKS document; the rest are ignored.
const MAX_KEYS: usize = 64;

/// One usable public key of a JWKS.
pub(crate) struct KeyEntry {
    kid: Option<String>,
    /// The `alg` the JWK is restricted to, if it names one.
    alg: Option<Algorithm>,
    family: AlgorithmFamily,
    /// For EC and OKP keys, the algorithms the curve can verify.
    curve_algs: Option<&'static [Algorithm]>,
    pub(crate) key: DecodingKey,
}

impl KeyEntry {
    fn fits(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        kid.is_none_or(|kid| self.kid.as_deref() == Some(kid))
            && alg.to_jwt().family() == self.family
            && self.alg.is_none_or(|a| a == alg)
            && self.curve_algs.is_none_or(|algs| algs.contains(&alg))
    }
}

/// The usable keys of one JWKS document.
pub(crate) struct KeySet {
    entries: Vec<KeyEntry>,
    /// Bumped by every successful fetch: lets a waiter see that someone refreshed.
    generation: u64,
    /// When it was fetched; `None` before the first fetch and for configured documents.
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn empty() -> KeySet {
        KeySet {
            entries: Vec::new(),
            generation: 0,
            fetched_at: None,
        }
    }

    /// Parses a JWKS document, keeping the public signature keys this crate can use:
    /// RSA, EC on P-256 and P-384, and Ed25519. Symmetric keys (`oct`), encryption keys
    /// (`use: enc`), keys restricted to other operations or to an algorithm outside
    /// [`Algorithm::ALL`], and keys that do not parse are skipped. An error if none is left.
    pub(crate) fn parse(json: &[u8]) -> Result<Vec<KeyEntry>, Error> {
        // Each key on its own: one key this crate cannot read must not hide the others.
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(json).map_err(|e| {
            Error::with_detail(ErrorKind::InvalidKeySet, "the document is not a JWKS")
                .with_source(e)
        })?;
        let mut entries = Vec::new();
        for value in document.keys.into_iter().take(MAX_KEYS) {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let jwk = &jwk;
            let common = &jwk.common;
            if common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != PublicKeyUse::Signature)
            {
                continue;
            }
            if common
                .key_operations
                .as_ref()
                .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
            {
                continue;
            }
            let alg = match &common.key_algorithm {
                None => None,
                Some(named) => match key_algorithm(named) {
                    Some(alg) => Some(alg),
                    None => continue,
                },
            };
            let (family, curve_algs) = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, None),
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => (AlgorithmFamily::Ec, Some(&[Algorithm::ES256][..])),
                    EllipticCurve::P384 => (AlgorithmFamily::Ec, Some(&[Algorithm::ES384][..])),
                    _ => continue,
                },
                AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
                    EllipticCurve::Ed25519 => (AlgorithmFamily::Ed, Some(&[Algorithm::EdDSA][..])),
                    _ => continue,
                },
                // Symmetric and unknown key types are never used.
                _ => continue,
            };
            let Ok(key) = DecodingKey::from_jwk(jwk) else {
                continue;
            };
            entries.push(KeyEntry {
                kid: common.key_id.clone(),
                alg,
                family,
                curve_algs,
                key,
            });
        }
        if entries.is_empty() {
            return Err(Error::with_detail(
                ErrorKind::InvalidKeySet,
                "it holds no usable public signature key",
            ));
        }
        Ok(entries)
    }

    pub(crate) fn candidates(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter().filter(move |e| e.fits(kid, alg))
    }

    fn has_candidate(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        self.candidates(kid, alg).next().is_some()
    }
}

fn key_algorithm(named: &KeyAlgorithm) -> Option<Algorithm> {
    Algorithm::ALL
        .into_iter()
        .find(|a| KeyAlgorithm::from(a.to_jwt()) == *named)
}

/// How often and how late keys are refreshed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshPolicy {
    pub(crate) min_interval: Duration,
    pub(crate) max_age: Duration,
}

/// The state of fetching, held while a fetch runs so concurrent misses share it.
struct FetchState {
    last_attempt: Option<Instant>,
    discovered_jwks_uri: Option<Url>,
    last_error: Option<Error>,
}

/// The keys of one issuer and how to refresh them.
pub(crate) struct IssuerKeys {
    issuer: String,
    /// `None` for a configured (static) document, which is never fetched.
    remote: Option<Remote>,
    current: RwLock<Arc<KeySet>>,
    fetch: Mutex<FetchState>,
}

struct Remote {
    /// The configured `jwks_uri`; `None` to discover it from the issuer's metadata.
    jwks_uri: Option<Url>,
}

impl IssuerKeys {
    pub(crate) fn remote(issuer: String, jwks_uri: Option<Url>) -> IssuerKeys {
        IssuerKeys {
            issuer,
            remote: Some(Remote { jwks_uri }),
            current: RwLock::new(Arc::new(KeySet::empty())),
            fetch: Mutex::new(FetchState {
                last_attempt: None,
                discovered_jwks_uri: None,
                last_error: None,
            }),
        }
    }

    pub(crate) fn fixed(issuer: String, json: &str) -> Result<IssuerKeys, Error> {
        let entries = KeySet::parse(json.as_bytes())?;
        Ok(IssuerKeys {
            issuer,
            remote: None,
            current: RwLock::new(Arc::new(KeySet {
                entries,
                generation: 1,
                fetched_at: None,
            })),
            fetch: Mutex::new(FetchState {
                last_attempt: None,
                discovered_jwks_uri: None,
                last_error: None,
            }),
        })
    }

    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A key set holding a key for (`kid`, `alg`), fetching the issuer's keys when needed:
    ///
    /// * before the first use (concurrent first uses share one fetch);
    /// * when no key fits, at most once per `min_interval` (waiters share the fetch, and a
    ///   waiter whose fetch just happened does not fetch again);
    /// * when the set is older than `max_age`, by one request while the others go on with
    ///   the old keys.
    pub(crate) async fn keys_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        policy: RefreshPolicy,
        fetcher: &Fetcher,
    ) -> Result<Arc<KeySet>, Error> {
        let set = self.current();
        let Some(remote) = &self.remote else {
            return if set.has_candidate(kid, alg) {
                Ok(set)
            } else {
                Err(Error::new(ErrorKind::UnknownSigningKey))
            };
        };
        if set.has_candidate(kid, alg) {
            let stale = set
                .fetched_at
                .is_none_or(|at| at.elapsed() >= policy.max_age);
            if !stale {
                return Ok(set);
            }
            // Stale: one request refreshes; everyone else uses the old keys meanwhile.
            let Ok(mut state) = self.fetch.try_lock() else {
                return Ok(set);
            };
            if self.current().generation == set.generation {
                self.refresh_if_allowed(&mut state, remote, policy, fetcher)
                    .await;
            }
            let set = self.current();
            return if set.has_candidate(kid, alg) {
                Ok(set)
            } else {
                Err(Error::new(ErrorKind::UnknownSigningKey))
            };
        }

        let seen = set.generation;
        let mut state = self.fetch.lock().await;
        if self.current().generation == seen {
            self.refresh_if_allowed(&mut state, remote, policy, fetcher)
                .await;
        }
        let set = self.current();
        if set.has_candidate(kid, alg) {
            Ok(set)
        } else if set.generation == 0 {
            // Never fetched successfully: nothing can be verified for this issuer now.
            Err(self.unavailable(&state))
        } else {
            Err(Error::new(ErrorKind::UnknownSigningKey))
        }
    }

    /// Fetches the keys now unless they were fetched before (or are configured).
    pub(crate) async fn prefetch(
        &self,
        policy: RefreshPolicy,
        fetcher: &Fetcher,
    ) -> Result<(), Error> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let mut state = self.fetch.lock().await;
        if self.current().generation == 0 {
            self.refresh_if_allowed(&mut state, remote, policy, fetcher)
                .await;
        }
        if self.current().generation == 0 {
            Err(self.unavailable(&state))
        } else {
            Ok(())
        }
    }

    fn unavailable(&self, state: &FetchState) -> Error {
        let err = Error::with_detail(
            ErrorKind::KeySetUnavailable,
            format!("issuer {}", self.issuer),
        );
        match &state.last_error {
            Some(last) => err.with_source(last.to_string()),
            None => err,
        }
    }

    async fn refresh_if_allowed(
        &self,
        state: &mut FetchState,
        remote: &Remote,
        policy: RefreshPolicy,
        fetcher: &Fetcher,
    ) {
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < policy.min_interval)
        {
            return;
        }
        state.last_attempt = Some(Instant::now());
        match self.fetch_keys(state, remote, fetcher).await {
            Ok(entries) => {
                let mut current = self
                    .current
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let generation = current.generation + 1;
                *current = Arc::new(KeySet {
                    entries,
                    generation,
                    fetched_at: Some(Instant::now()),
                });
                state.last_error = None;
                tracing::debug!(issuer = %self.issuer, generation, "fetched the issuer's signing keys");
            }
            Err(err) => {
                tracing::warn!(issuer = %self.issuer, error = %err, "cannot fetch the issuer's signing keys");
                state.last_error = Some(err);
            }
        }
    }

    async fn fetch_keys(
        &self,
        state: &mut FetchState,
        remote: &Remote,
        fetcher: &Fetcher,
    ) -> Result<Vec<KeyEntry>, Error> {
        let jwks_uri = match (&remote.jwks_uri, &state.discovered_jwks_uri) {
            (Some(configured), _) => configured.clone(),
            (None, Some(discovered)) => discovered.clone(),
            (None, None) => {
                let discovered = fetcher.discover_jwks_uri(&self.issuer).await?;
                state.discovered_jwks_uri = Some(discovered.clone());
                discovered
            }
        };
        let result = async {
            let body = fetcher.get(&jwks_uri).await?;
            KeySet::parse(&body)
        }
        .await;
        if result.is_err() {
            // The metadata may have moved the keys: discover again next time.
            state.discovered_jwks_uri = None;
        }
        result.map_err(|e| {
            Error::with_detail(
                ErrorKind::KeySetUnavailable,
                format!("issuer {}, jwks_uri {jwks_uri}", self.issuer),
            )
            .with_source(e.to_string())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped() {
        let jwks = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0","kid":"hmac"},
            {"kty":"RSA","use":"enc","kid":"enc","n":"sXch","e":"AQAB"},
            {"kty":"EC","crv":"P-256","kid":"ec","alg":"ES256",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"OKP","crv":"X25519","kid":"x","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"},
            {"kty":"RSA","kid":"broken","use":5,"n":"sXch","e":"AQAB"},
            {"kty":"EC","crv":"P-256","kid":"wrong-alg","alg":"HS256",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}"#;
        // The library refuses the whole set for its one broken key; this crate skips it.
        assert!(serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(jwks).is_err());
        let entries = KeySet::parse(jwks.as_bytes()).unwrap();
        let kids: Vec<_> = entries.iter().map(|e| e.kid.as_deref()).collect();
        assert_eq!(kids, [Some("ec")]);
        let set = KeySet {
            entries,
            generation: 1,
            fetched_at: None,
        };
        assert!(set.has_candidate(Some("ec"), Algorithm::ES256));
        assert!(set.has_candidate(None, Algorithm::ES256));
        assert!(!set.has_candidate(Some("ec"), Algorithm::ES384));
        assert!(!set.has_candidate(Some("ec"), Algorithm::RS256));
        assert!(!set.has_candidate(Some("other"), Algorithm::ES256));
    }

    #[test]
    fn documents_without_usable_keys_are_refused() {
        for doc in [
            "not json",
            r#"{"keys":[]}"#,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#,
        ] {
            let err = KeySet::parse(doc.as_bytes()).err().unwrap();
            assert_eq!(err.kind(), &ErrorKind::InvalidKeySet, "{doc}");
        }
    }
}
