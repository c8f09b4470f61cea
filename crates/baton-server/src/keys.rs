//! Handle-signing keys: from configuration, or kept in the store with a lifecycle, reloaded
//! while serving, and optionally encrypted at rest.
//!
//! With `--handle-keys` (or `--handle-keys-file`) the configured keys are used as given:
//! every instance must be given the same list, and the largest id signs. Without, baton keeps
//! its keys in the database: the first instance to start stores key 1 as the signer, and
//! every instance on that database reads the same keys, so a handle minted on one verifies on
//! all and survives restarts.
//!
//! Stored keys have a life ([`baton_store::SigningKeyRecord`]): `baton keys add` stores a
//! verify-only key, `baton keys promote` makes it the signer, `baton keys retire` ends it.
//! Instances reload the ring every `--key-reload-interval`, and again before answering when
//! a handle names a key newer than any they know (at most one read a second, shared by every
//! such handle): so no instance rejects a handle another instance has just minted with a
//! newly promoted key.
//!
//! With a key-encryption key (`--key-encryption-key-file`, or `BATON_KEY_ENCRYPTION_KEY`),
//! secrets are stored sealed with ChaCha20-Poly1305, bound to their key id: a copy of the
//! database alone cannot forge handles.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use arc_swap::ArcSwap;
use baton_handle::{Codec, ErrorKind, Key, KeyRing, Verified};
use baton_store::{KeyStore, SigningKeyRecord, signer};
use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use clap::Args;
use data_encoding::BASE64URL_NOPAD;
use tokio_util::sync::CancellationToken;

/// The handle kind: handles look like `task_…`.
pub const HANDLE_KIND: &str = "task";

/// The kind of delegated handles (a task shared with another principal): `dtask_…`. Its id
/// is the grant's, its principal the delegate's; the kind is under the MAC, so neither kind
/// can pass for the other.
pub const DELEGATED_KIND: &str = "dtask";

/// The kind of tool task ids (the MCP Tasks extension's `taskId`): `tooltask_…`. Its id is
/// the tool task's, its principal the caller's, so another principal's task id never
/// verifies.
pub const TOOL_TASK_KIND: &str = "tooltask";

/// Which kind of handle a verified handle was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleKind {
    /// A task handle: its id is the task's, held by the task's owner.
    Task,
    /// A delegated handle: its id is a grant's, held by the grant's delegate.
    Delegated,
    /// A tool task id: its id is the tool task's, held by the caller that started it.
    ToolTask,
}

/// The codecs of one key ring: one per handle kind.
pub struct Codecs {
    /// Task handles (`task_…`).
    pub task: Codec,
    /// Delegated handles (`dtask_…`).
    pub delegated: Codec,
    /// Tool task ids (`tooltask_…`).
    pub tool_task: Codec,
}

impl Codecs {
    /// Both codecs over `ring`.
    pub fn new(ring: KeyRing) -> anyhow::Result<Codecs> {
        let task = Codec::new(HANDLE_KIND, ring.clone())
            .map_err(|e| anyhow::anyhow!("handle codec: {e}"))?;
        let delegated = Codec::new(DELEGATED_KIND, ring.clone())
            .map_err(|e| anyhow::anyhow!("delegated handle codec: {e}"))?;
        let tool_task = Codec::new(TOOL_TASK_KIND, ring)
            .map_err(|e| anyhow::anyhow!("tool task id codec: {e}"))?;
        Ok(Codecs {
            task,
            delegated,
            tool_task,
        })
    }

    fn key_ring(&self) -> &KeyRing {
        self.task.key_ring()
    }

    /// The codec for a handle's text, by its prefix (the task codec rejects anything else).
    fn for_handle(&self, handle: &str) -> (HandleKind, &Codec) {
        let kind_is = |kind: &str| {
            handle
                .strip_prefix(kind)
                .is_some_and(|rest| rest.starts_with('_'))
        };
        if kind_is(DELEGATED_KIND) {
            (HandleKind::Delegated, &self.delegated)
        } else if kind_is(TOOL_TASK_KIND) {
            (HandleKind::ToolTask, &self.tool_task)
        } else {
            (HandleKind::Task, &self.task)
        }
    }
}

/// Where handle-signing keys come from, and how stored ones are protected and reloaded.
#[derive(Clone, Debug, Args)]
pub struct KeyArgs {
    /// Handle-signing keys as `ID:SECRET` pairs (SECRET: base64url, at least 32 bytes),
    /// comma-separated. The largest id signs; all verify. Without it (or
    /// --handle-keys-file), baton keeps its keys in the database, shared by every instance
    /// on that database.
    #[arg(
        long,
        env = "BATON_HANDLE_KEYS",
        hide_env_values = true,
        value_delimiter = ',',
        conflicts_with = "handle_keys_file"
    )]
    pub handle_keys: Vec<String>,

    /// A file holding the handle-signing keys (`ID:SECRET` pairs, one per line or
    /// comma-separated), so that secrets are not in the process list.
    #[arg(long, env = "BATON_HANDLE_KEYS_FILE")]
    pub handle_keys_file: Option<PathBuf>,

    /// A file holding the key-encryption key (32 bytes, base64url) that seals the handle-
    /// signing keys kept in the database. `BATON_KEY_ENCRYPTION_KEY` may hold the key itself.
    #[arg(long, env = "BATON_KEY_ENCRYPTION_KEY_FILE")]
    pub key_encryption_key_file: Option<PathBuf>,

    /// How often stored handle-signing keys are read again (so added, promoted and retired
    /// keys take effect without a restart).
    #[arg(long, env = "BATON_KEY_RELOAD_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub key_reload_interval: Duration,
}

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

/// The configured key pairs: `--handle-keys`, or the lines of `--handle-keys-file`.
fn configured_pairs(args: &KeyArgs) -> anyhow::Result<Vec<String>> {
    if let Some(path) = &args.handle_keys_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --handle-keys-file {}", path.display()))?;
        let pairs: Vec<String> = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.starts_with('#'))
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(
            !pairs.is_empty(),
            "--handle-keys-file {} holds no key",
            path.display()
        );
        return Ok(pairs);
    }
    Ok(args.handle_keys.clone())
}

/// Seals and opens stored key secrets with the key-encryption key.
#[derive(Clone)]
pub struct KeyEncryption(ChaCha20Poly1305);

impl std::fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryption(<redacted>)")
    }
}

/// Sealed secrets start with this, then a 12-byte nonce, then the ciphertext and tag.
const SEALED_PREFIX: &[u8] = b"bkek1";
const NONCE_LEN: usize = 12;

impl KeyEncryption {
    /// The key-encryption key from `--key-encryption-key-file` or `BATON_KEY_ENCRYPTION_KEY`.
    pub fn from_args(args: &KeyArgs) -> anyhow::Result<Option<KeyEncryption>> {
        let text = match (
            &args.key_encryption_key_file,
            std::env::var("BATON_KEY_ENCRYPTION_KEY"),
        ) {
            (Some(path), _) => std::fs::read_to_string(path).with_context(|| {
                format!("cannot read --key-encryption-key-file {}", path.display())
            })?,
            (None, Ok(value)) if !value.trim().is_empty() => value,
            _ => return Ok(None),
        };
        let key = BASE64URL_NOPAD
            .decode(text.trim().trim_end_matches('=').as_bytes())
            .map_err(|_| anyhow::anyhow!("the key-encryption key is not base64url"))?;
        anyhow::ensure!(
            key.len() == 32,
            "the key-encryption key must be 32 bytes, got {}",
            key.len()
        );
        let cipher = ChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| anyhow::anyhow!("the key-encryption key is not a ChaCha20 key"))?;
        Ok(Some(KeyEncryption(cipher)))
    }

    fn aad(key_id: u16) -> Vec<u8> {
        let mut aad = b"baton-handle-key:".to_vec();
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad
    }

    /// Seals a secret for key `key_id`.
    pub fn seal(&self, key_id: u16, secret: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let aad = Self::aad(key_id);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| anyhow::anyhow!("cannot seal handle-signing key {key_id}"))?;
        let mut out = SEALED_PREFIX.to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed secret of key `key_id`.
    fn open(&self, key_id: u16, stored: &[u8]) -> anyhow::Result<Vec<u8>> {
        let rest = &stored[SEALED_PREFIX.len()..];
        anyhow::ensure!(
            rest.len() > NONCE_LEN,
            "stored key {key_id}: the sealed secret is truncated"
        );
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let aad = Self::aad(key_id);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload { msg: sealed, aad: &aad },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "stored key {key_id} does not open with this key-encryption key (wrong key, or the record was altered)"
                )
            })
    }
}

/// Whether a stored secret is sealed.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// A stored secret as the key: opened with `kek` when sealed.
fn secret_of(record: &SigningKeyRecord, kek: Option<&KeyEncryption>) -> anyhow::Result<Vec<u8>> {
    if !is_sealed(&record.secret) {
        return Ok(record.secret.clone());
    }
    let kek = kek.with_context(|| {
        format!(
            "stored key {} is encrypted: give the key-encryption key (--key-encryption-key-file or BATON_KEY_ENCRYPTION_KEY)",
            record.key_id
        )
    })?;
    kek.open(record.key_id, &record.secret)
}

/// The secret to store for a new key: sealed when a key-encryption key is configured.
fn stored_secret(key: &Key, kek: Option<&KeyEncryption>) -> anyhow::Result<Vec<u8>> {
    match kek {
        Some(kek) => kek.seal(key.id(), key.secret()),
        None => Ok(key.secret().to_vec()),
    }
}

/// Builds the ring from stored keys: the active ones verify, [`signer`] signs.
fn ring_of(stored: &[SigningKeyRecord], kek: Option<&KeyEncryption>) -> anyhow::Result<KeyRing> {
    let signing = signer(stored).with_context(|| {
        "no stored handle-signing key is active and promoted: promote one with `baton keys promote ID`"
    })?;
    let keys = stored
        .iter()
        .filter(|r| r.is_active())
        .map(|r| {
            let secret = secret_of(r, kek)?;
            Key::new(r.key_id, &secret).map_err(|e| anyhow::anyhow!("stored key {}: {e}", r.key_id))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    KeyRing::with_signer(keys, signing.key_id)
        .map_err(|e| anyhow::anyhow!("handle-signing keys: {e}"))
}

/// Where the ring comes from.
enum Source {
    /// Configured keys: fixed for the process.
    Configured,
    /// Keys kept in the store: reloaded.
    Stored {
        store: Arc<dyn KeyStore>,
        kek: Option<KeyEncryption>,
    },
}

/// The handle codec of a serving process, with its key ring kept up to date.
pub struct HandleKeys {
    codecs: ArcSwap<Codecs>,
    source: Source,
    /// Held while the ring is read; holds when the last read *started*. Reads are single-
    /// flight: a miss that finds a read started after it needs no read of its own.
    reload_gate: tokio::sync::Mutex<Instant>,
}

/// Shortest time between two reloads triggered by handles naming an unknown key.
const MISS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

impl HandleKeys {
    /// Loads the ring: the configured keys, or the store's (creating and promoting key 1 on
    /// first start).
    pub async fn load(args: &KeyArgs, store: Arc<dyn KeyStore>) -> anyhow::Result<Arc<HandleKeys>> {
        let pairs = configured_pairs(args)?;
        let (ring, source) = if !pairs.is_empty() {
            let ring = KeyRing::new(parse_configured(&pairs)?)
                .map_err(|e| anyhow::anyhow!("handle-signing keys: {e}"))?;
            (ring, Source::Configured)
        } else {
            let kek = KeyEncryption::from_args(args)?;
            let ring = load_stored(store.as_ref(), kek.as_ref()).await?;
            (ring, Source::Stored { store, kek })
        };
        tracing::info!(signing_key = ring.signing_key_id(), keys = ?ring.key_ids(), "handle key ring loaded");
        Ok(Arc::new(HandleKeys {
            codecs: ArcSwap::from_pointee(Codecs::new(ring)?),
            source,
            reload_gate: tokio::sync::Mutex::new(Instant::now()),
        }))
    }

    /// Fixed codecs over `ring` (for tests and tools that manage keys themselves).
    pub fn fixed(ring: KeyRing) -> anyhow::Result<Arc<HandleKeys>> {
        Ok(Arc::new(HandleKeys {
            codecs: ArcSwap::from_pointee(Codecs::new(ring)?),
            source: Source::Configured,
            reload_gate: tokio::sync::Mutex::new(Instant::now()),
        }))
    }

    /// The current codecs.
    pub fn codecs(&self) -> Arc<Codecs> {
        self.codecs.load_full()
    }

    /// Reads stored keys again; a configured ring never changes. A failed reload keeps the
    /// current ring.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let mut started = self.reload_gate.lock().await;
        *started = Instant::now();
        self.read_ring().await
    }

    /// Reads the stored ring and swaps it in; the caller holds `reload_gate`.
    async fn read_ring(&self) -> anyhow::Result<()> {
        let Source::Stored { store, kek } = &self.source else {
            return Ok(());
        };
        let ring = ring_of(&store.signing_keys().await?, kek.as_ref())?;
        let current = self.codecs.load();
        let old = current.key_ring();
        if old.key_ids() != ring.key_ids() || old.signing_key_id() != ring.signing_key_id() {
            tracing::info!(
                signing_key = ring.signing_key_id(),
                keys = ?ring.key_ids(),
                "handle key ring changed"
            );
        }
        self.codecs.store(Arc::new(Codecs::new(ring)?));
        Ok(())
    }

    /// Makes sure the ring was read after `missed_at`, when a handle named a key this
    /// instance does not know.
    ///
    /// The handle was minted before the miss, so its key was in the store before it: a read
    /// that starts after the miss sees it. Reads stay at most one a second, however many
    /// handles miss: a miss waits for the next allowed read (under a second), and every
    /// miss that came before that read shares it.
    async fn reload_after(&self, missed_at: Instant) -> anyhow::Result<()> {
        let mut started = self.reload_gate.lock().await;
        if *started >= missed_at {
            return Ok(());
        }
        tokio::time::sleep_until((*started + MISS_RELOAD_INTERVAL).into()).await;
        *started = Instant::now();
        self.read_ring().await
    }

    /// Verifies a handle of either kind. When it names a key newer than every key this
    /// instance knows (another instance may have just promoted it), makes sure the ring was
    /// read since, and tries again.
    ///
    /// Only ids above the newest known key wait for a read: ids only grow, so a lower
    /// unknown id is a retired key, and its handles are refused at once.
    pub async fn verify(
        &self,
        handle: &str,
        principal: &str,
        now: u64,
    ) -> Result<(HandleKind, Verified), baton_handle::Error> {
        let verify = |codecs: &Codecs| {
            let (kind, codec) = codecs.for_handle(handle);
            codec.verify(handle, principal, now).map(|v| (kind, v))
        };
        let codecs = self.codecs.load();
        let first = verify(&codecs);
        let Err(e) = &first else { return first };
        let newer_key = e.kind() == &ErrorKind::UnknownKey
            && e.key_id()
                .is_some_and(|id| codecs.key_ring().key_ids().iter().all(|known| id > *known));
        if !newer_key || !matches!(self.source, Source::Stored { .. }) {
            return first;
        }
        drop(codecs);
        if let Err(reload) = self.reload_after(Instant::now()).await {
            tracing::warn!(error = %reload, "reloading the handle key ring failed");
            return first;
        }
        verify(&self.codecs.load())
    }

    /// [`HandleKeys::verify`] for a caller: a refused handle is logged (at debug; the
    /// reason stays in the server's logs) and counted by reason, and becomes `None`, the
    /// one answer every handle that leads nowhere gets.
    pub async fn accept(
        &self,
        handle: &str,
        principal: &str,
        now: u64,
    ) -> Option<(HandleKind, Verified)> {
        match self.verify(handle, principal, now).await {
            Ok(verified) => Some(verified),
            Err(e) => {
                tracing::debug!(reason = %e, "handle rejected");
                crate::observability::handle_rejected(&e);
                None
            }
        }
    }

    /// Reloads the ring every `every` until `shutdown`.
    pub fn spawn_reloader(self: &Arc<Self>, every: Duration, shutdown: CancellationToken) {
        if !matches!(self.source, Source::Stored { .. }) {
            return;
        }
        let keys = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "reloading the handle key ring failed; keeping the current one");
                }
            }
        });
    }
}

/// Reads the stored ring, creating (and promoting) key 1 when the store has none.
async fn load_stored(store: &dyn KeyStore, kek: Option<&KeyEncryption>) -> anyhow::Result<KeyRing> {
    let mut stored = store
        .signing_keys()
        .await
        .context("cannot read the handle-signing keys")?;
    if stored.is_empty() {
        let fresh = Key::generate(1);
        let now = chrono::Utc::now();
        stored = store
            .insert_signing_key(SigningKeyRecord {
                promoted_at: Some(now),
                ..SigningKeyRecord::verify_only(fresh.id(), stored_secret(&fresh, kek)?, now)
            })
            .await
            .context("cannot store a new handle-signing key")?;
        tracing::info!(
            key_id = 1,
            encrypted = kek.is_some(),
            "created the handle-signing key and stored it in the database"
        );
    }
    if kek.is_none() && stored.iter().any(|r| is_sealed(&r.secret)) {
        anyhow::bail!(
            "the stored handle-signing keys are encrypted: give the key-encryption key (--key-encryption-key-file or BATON_KEY_ENCRYPTION_KEY)"
        );
    }
    if kek.is_some() && stored.iter().any(|r| !is_sealed(&r.secret)) {
        tracing::warn!(
            "some stored handle-signing keys are not encrypted: seal them with `baton keys encrypt`"
        );
    }
    ring_of(&stored, kek)
}

/// `baton keys …`: what an operator does with stored keys.
pub mod admin {
    use super::*;

    /// A key's state, as `baton keys list` shows it.
    pub fn state(record: &SigningKeyRecord, all: &[SigningKeyRecord]) -> &'static str {
        if !record.is_active() {
            "retired"
        } else if signer(all).is_some_and(|s| s.key_id == record.key_id) {
            "signing"
        } else if record.promoted_at.is_some() {
            "verifying (was signing)"
        } else {
            "verifying"
        }
    }

    /// Adds a verify-only key with the next id; returns its id.
    pub async fn add(store: &dyn KeyStore, kek: Option<&KeyEncryption>) -> anyhow::Result<u16> {
        let stored = store.signing_keys().await?;
        let next = stored
            .iter()
            .map(|r| r.key_id)
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .context("key ids exhausted")?;
        let key = Key::generate(next);
        let inserted = store
            .insert_signing_key(SigningKeyRecord::verify_only(
                next,
                stored_secret(&key, kek)?,
                chrono::Utc::now(),
            ))
            .await?;
        anyhow::ensure!(
            inserted
                .iter()
                .any(|r| r.key_id == next && r.promoted_at.is_none()),
            "another key with id {next} was added at the same time; list the keys and try again"
        );
        Ok(next)
    }

    async fn find(
        store: &dyn KeyStore,
        id: u16,
    ) -> anyhow::Result<(SigningKeyRecord, Vec<SigningKeyRecord>)> {
        let all = store.signing_keys().await?;
        let record = all
            .iter()
            .find(|r| r.key_id == id)
            .cloned()
            .with_context(|| format!("no handle-signing key has the id {id}"))?;
        Ok((record, all))
    }

    /// Makes key `id` the signer.
    pub async fn promote(store: &dyn KeyStore, id: u16) -> anyhow::Result<()> {
        let (record, _) = find(store, id).await?;
        anyhow::ensure!(
            record.is_active(),
            "key {id} is retired and cannot sign again"
        );
        let updated = SigningKeyRecord {
            promoted_at: Some(chrono::Utc::now()),
            ..record
        };
        anyhow::ensure!(
            store.update_signing_key(updated).await?,
            "key {id} disappeared"
        );
        Ok(())
    }

    /// Retires key `id`: handles it signed stop working. The signer cannot be retired.
    pub async fn retire(store: &dyn KeyStore, id: u16) -> anyhow::Result<()> {
        let (record, all) = find(store, id).await?;
        anyhow::ensure!(record.is_active(), "key {id} is retired already");
        anyhow::ensure!(
            signer(&all).is_none_or(|s| s.key_id != id),
            "key {id} is the signing key: promote another key first (`baton keys add`, then `baton keys promote NEW_ID`)"
        );
        let updated = SigningKeyRecord {
            retired_at: Some(chrono::Utc::now()),
            ..record
        };
        anyhow::ensure!(
            store.update_signing_key(updated).await?,
            "key {id} disappeared"
        );
        Ok(())
    }

    /// Seals every stored key that is not sealed yet; returns how many.
    pub async fn encrypt(store: &dyn KeyStore, kek: &KeyEncryption) -> anyhow::Result<usize> {
        let mut sealed = 0;
        for record in store.signing_keys().await? {
            if is_sealed(&record.secret) {
                continue;
            }
            let secret = kek.seal(record.key_id, &record.secret)?;
            let id = record.key_id;
            anyhow::ensure!(
                store
                    .update_signing_key(SigningKeyRecord { secret, ..record })
                    .await?,
                "key {id} disappeared"
            );
            sealed += 1;
        }
        Ok(sealed)
    }
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

    fn kek() -> KeyEncryption {
        KeyEncryption(ChaCha20Poly1305::new_from_slice(&[3u8; 32]).unwrap())
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_id_and_kek() {
        let secret = [42u8; 32];
        let sealed = kek().seal(7, &secret).unwrap();
        assert!(is_sealed(&sealed));
        assert!(
            !sealed.windows(32).any(|w| w == secret),
            "the secret shows through"
        );
        assert_eq!(kek().open(7, &sealed).unwrap(), secret);
        // Moved to another key id: refused.
        assert!(kek().open(8, &sealed).is_err());
        // Another key-encryption key: refused.
        let other = KeyEncryption(ChaCha20Poly1305::new_from_slice(&[4u8; 32]).unwrap());
        assert!(other.open(7, &sealed).is_err());
        // Altered: refused.
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(kek().open(7, &altered).is_err());
    }

    #[test]
    fn the_ring_signs_with_the_key_promoted_last_and_ignores_retired_keys() {
        let now = chrono::Utc::now();
        let record = |id: u16, promoted: Option<i64>, retired: bool| SigningKeyRecord {
            key_id: id,
            secret: vec![id as u8; 32],
            created_at: now,
            promoted_at: promoted.map(|s| now + chrono::Duration::seconds(s)),
            retired_at: retired.then_some(now),
        };
        let stored = vec![
            record(1, Some(0), true),
            record(2, Some(10), false),
            record(3, Some(5), false),
            record(4, None, false),
        ];
        let ring = ring_of(&stored, None).unwrap();
        assert_eq!(ring.signing_key_id(), 2);
        assert_eq!(ring.key_ids(), vec![2, 3, 4]);
        let none = vec![record(1, None, false)];
        assert!(ring_of(&none, None).is_err(), "no promoted key: no signer");
    }

    /// A key store that counts reads of the signing keys.
    struct CountingKeys {
        inner: baton_store_sqlite::SqliteStore,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl CountingKeys {
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl KeyStore for CountingKeys {
        async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, baton_store::StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.signing_keys().await
        }
        async fn insert_signing_key(
            &self,
            key: SigningKeyRecord,
        ) -> Result<Vec<SigningKeyRecord>, baton_store::StoreError> {
            self.inner.insert_signing_key(key).await
        }
        async fn update_signing_key(
            &self,
            key: SigningKeyRecord,
        ) -> Result<bool, baton_store::StoreError> {
            self.inner.update_signing_key(key).await
        }
        async fn insert_api_key(
            &self,
            key: baton_store::StoredApiKey,
        ) -> Result<(), baton_store::StoreError> {
            self.inner.insert_api_key(key).await
        }
        async fn api_key(
            &self,
            id: &str,
        ) -> Result<Option<baton_store::StoredApiKey>, baton_store::StoreError> {
            self.inner.api_key(id).await
        }
        async fn api_keys(
            &self,
        ) -> Result<Vec<baton_store::StoredApiKey>, baton_store::StoreError> {
            self.inner.api_keys().await
        }
        async fn revoke_api_key(
            &self,
            id: &str,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<baton_store::StoredApiKey>, baton_store::StoreError> {
            self.inner.revoke_api_key(id, now).await
        }
    }

    /// The race the fleet's key-rotation test once hit: an instance that read its ring just
    /// before another instance's `rotate` must still accept the handles minted with the new
    /// key, and every handle that misses at once shares one read.
    #[tokio::test]
    async fn a_key_promoted_since_the_last_read_verifies_at_once_on_every_instance() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let sqlite = baton_store_sqlite::SqliteStore::open(
            path.to_str().unwrap(),
            baton_store_sqlite::SqliteOptions::default(),
        )
        .await
        .unwrap();
        let store = Arc::new(CountingKeys {
            inner: sqlite,
            reads: Default::default(),
        });
        let args = KeyArgs {
            handle_keys: Vec::new(),
            handle_keys_file: None,
            key_encryption_key_file: None,
            key_reload_interval: Duration::from_secs(5),
        };
        let late = HandleKeys::load(&args, store.clone()).await.unwrap();
        // A periodic read just now: the next on-miss read must wait for its window, not be
        // skipped.
        late.reload().await.unwrap();
        let old = late.codecs().task.mint("alice", u64::MAX);

        // Another instance rotates, then signs with the new key.
        let new_id = admin::add(store.as_ref(), None).await.unwrap();
        admin::promote(store.as_ref(), new_id).await.unwrap();
        let early = HandleKeys::load(&args, store.clone()).await.unwrap();
        assert_eq!(early.codecs().task.key_ring().signing_key_id(), new_id);
        let minted: Vec<String> = (0..8)
            .map(|i| early.codecs().task.mint(&format!("p{i}"), u64::MAX).handle)
            .collect();

        let reads = store.reads();
        let mut checks = tokio::task::JoinSet::new();
        for (i, handle) in minted.into_iter().enumerate() {
            let late = Arc::clone(&late);
            checks.spawn(async move { late.verify(&handle, &format!("p{i}"), 0).await });
        }
        while let Some(checked) = checks.join_next().await {
            let (kind, _) = checked
                .unwrap()
                .expect("a handle of the new key is rejected");
            assert_eq!(kind, HandleKind::Task);
        }
        assert_eq!(
            store.reads() - reads,
            1,
            "the misses did not share one read"
        );

        // A key id above every stored one: refused after the (shared, rate-limited) read.
        let forged = Codec::new(HANDLE_KIND, KeyRing::new(vec![Key::generate(900)]).unwrap())
            .unwrap()
            .mint("alice", u64::MAX)
            .handle;
        let e = late.verify(&forged, "alice", 0).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnknownKey);

        // A retired key: refused without reading the store again.
        admin::retire(store.as_ref(), 1).await.unwrap();
        late.reload().await.unwrap();
        let reads = store.reads();
        let e = late.verify(&old.handle, "alice", 0).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::UnknownKey);
        assert_eq!(
            store.reads(),
            reads,
            "a retired key's handle read the store"
        );
    }
}
