//! The handle-signing key ring: from configuration, or kept in the store.
//!
//! With `--handle-keys`, the configured keys are used as given (every instance must be
//! given the same list). Without, baton keeps its keys in the database: the first instance
//! to start stores key 1, and every instance on that database reads the same keys, so a
//! handle minted on one verifies on all and survives restarts.

use anyhow::Context;
use baton_handle::{Key, KeyRing};
use baton_store::{KeyStore, SigningKeyRecord};
use data_encoding::BASE64URL_NOPAD;

/// Parses `ID:SECRET` pairs (SECRET in base64url, padding optional).
pub fn parse_configured(pairs: &[String]) -> anyhow::Result<Vec<Key>> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let (id, secret) = pair
                .split_once(':')
                .with_context(|| format!("--handle-keys item {i} is not ID:SECRET"))?;
            let id: u16 = id.trim().parse().with_context(|| {
                format!("--handle-keys item {i}: the id is not a number from 0 to 65535")
            })?;
            let secret = BASE64URL_NOPAD
                .decode(secret.trim().trim_end_matches('=').as_bytes())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--handle-keys item {i} (key {id}): the secret is not base64url"
                    )
                })?;
            Key::new(id, &secret)
                .map_err(|e| anyhow::anyhow!("--handle-keys item {i} (key {id}): {e}"))
        })
        .collect()
}

/// Loads the key ring: configured keys, or the store's (creating key 1 on first start).
pub async fn load(configured: &[String], store: &dyn KeyStore) -> anyhow::Result<KeyRing> {
    let keys = if !configured.is_empty() {
        parse_configured(configured)?
    } else {
        let mut stored = store
            .signing_keys()
            .await
            .context("cannot read the handle-signing keys")?;
        if stored.is_empty() {
            let fresh = Key::generate(1);
            stored = store
                .insert_signing_key(SigningKeyRecord {
                    key_id: fresh.id(),
                    secret: fresh.secret().to_vec(),
                    created_at: chrono::Utc::now(),
                })
                .await
                .context("cannot store a new handle-signing key")?;
            tracing::info!(
                key_id = 1,
                "created the handle-signing key and stored it in the database"
            );
        }
        stored
            .iter()
            .map(|r| {
                Key::new(r.key_id, &r.secret)
                    .map_err(|e| anyhow::anyhow!("stored key {}: {e}", r.key_id))
            })
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let ring = KeyRing::new(keys).map_err(|e| anyhow::anyhow!("handle-signing keys: {e}"))?;
    tracing::info!(signing_key = ring.signing_key_id(), keys = ?ring.key_ids(), "handle key ring loaded");
    Ok(ring)
}

/// Adds a key with the next id to the store (rotation): instances that load keys from the
/// store sign with it after their next restart, and keep verifying the older ones.
pub async fn rotate(store: &dyn KeyStore) -> anyhow::Result<u16> {
    let stored = store.signing_keys().await?;
    let next = stored
        .iter()
        .map(|r| r.key_id)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .context("key ids exhausted")?;
    let key = Key::generate(next);
    store
        .insert_signing_key(SigningKeyRecord {
            key_id: next,
            secret: key.secret().to_vec(),
            created_at: chrono::Utc::now(),
        })
        .await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_keys_parse_and_errors_name_the_item() {
        let secret = BASE64URL_NOPAD.encode(&[7u8; 32]);
        let keys = parse_configured(&[format!("1:{secret}"), format!("2:{secret}=")]).unwrap();
        assert_eq!(keys.iter().map(Key::id).collect::<Vec<_>>(), vec![1, 2]);
        let e = parse_configured(&["nope".into()]).unwrap_err().to_string();
        assert!(e.contains("item 0"), "{e}");
        let e = parse_configured(&[format!("1:{}", BASE64URL_NOPAD.encode(&[1u8; 8]))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key 1"), "{e}");
        // The secret itself never appears in an error.
        assert!(!e.contains(&BASE64URL_NOPAD.encode(&[1u8; 8])));
    }
}
