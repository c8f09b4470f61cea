//! A real OAuth 2.1 / OpenID authorization server for tests (feature `oidc`): the npm package
//! `oidc-provider`, a certified OpenID provider, run on 127.0.0.1 by
//! `tests/clients/oidc/provider.mjs`, issuing JWT access tokens through the
//! client-credentials grant with resource indicators (RFC 8707).
//!
//! The package is installed with [`npm_package`](crate::npm_package) into the
//! [cache folder](crate::cache_dir) and run by the Node of [`node_bin`](crate::node_bin).

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{ChildGuard, Error, ErrorKind, node_bin, node_executable, npm_package};

/// The pinned oidc-provider release.
pub const OIDC_PROVIDER_VERSION: &str = "9.13.3";

/// How long a starting provider may take to print its ready line: generous, because a
/// loaded machine can take many seconds to start Node.
pub const PROVIDER_READY_WITHIN: Duration = Duration::from_secs(180);

/// How long a restarted provider keeps trying to bind its old port.
const RESTART_WITHIN: Duration = Duration::from_secs(30);

/// How long a request to the provider may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// A client registered at the provider (grant `client_credentials`, secret sent with HTTP
/// Basic authentication).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OidcClient {
    /// Its `client_id`; also the `sub` of its tokens.
    pub id: &'static str,
    /// Its `client_secret`.
    pub secret: &'static str,
}

/// RS256 tokens that live 300 s.
pub const OIDC_CLIENT: OidcClient = OidcClient {
    id: "baton-test",
    secret: "baton-test-secret",
};

/// RS256 tokens that live 2 s (for expiry tests).
pub const OIDC_SHORT_LIVED_CLIENT: OidcClient = OidcClient {
    id: "baton-short",
    secret: "baton-short-secret",
};

/// ES256 tokens that live 300 s.
pub const OIDC_ES256_CLIENT: OidcClient = OidcClient {
    id: "baton-es256",
    secret: "baton-es256-secret",
};

/// The script that runs the provider: `tests/clients/oidc/provider.mjs` in this workspace.
pub fn provider_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/oidc/provider.mjs")
}

/// oidc-provider installed, and the Node that runs it.
#[derive(Clone, Debug)]
pub struct OidcInstall {
    /// The Node executable itself (not the wheel's wrapper script), so that killing the
    /// provider's process stops it.
    node: PathBuf,
    modules: PathBuf,
}

impl OidcInstall {
    /// Installs (or reuses) [`OIDC_PROVIDER_VERSION`] and finds a Node to run it.
    pub fn install() -> Result<OidcInstall, Error> {
        let node_bin = node_bin()?;
        let modules = npm_package(&node_bin, "oidc-provider", OIDC_PROVIDER_VERSION)?;
        let node = node_executable(&node_bin)?;
        Ok(OidcInstall { node, modules })
    }

    /// The npm prefix folder holding the package.
    pub fn modules(&self) -> &Path {
        &self.modules
    }

    /// The Node executable that runs it (also fit for other scripts that use the package
    /// or its dependencies, such as `jose`).
    pub fn node(&self) -> &Path {
        &self.node
    }
}

/// A running provider, killed when dropped.
///
/// ```no_run
/// use baton_devtools::{OIDC_CLIENT, OidcInstall, OidcProvider};
///
/// # async fn demo() -> Result<(), baton_devtools::Error> {
/// let install = OidcInstall::install()?;
/// let keys = tempfile::tempdir().unwrap();
/// let provider = OidcProvider::start(&install, &keys.path().join("keys.json"), 0)?;
/// let token = provider
///     .token(OIDC_CLIENT, "https://baton.test/mcp", "research:read")
///     .await?;
/// # let _ = token;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OidcProvider {
    child: ChildGuard,
    install: OidcInstall,
    keys_file: PathBuf,
    /// Its issuer URL, `http://127.0.0.1:<port>`.
    pub issuer: String,
    /// The port it listens on.
    pub port: u16,
    /// The `kid`s of its signing keys, the one that signs new RS256 tokens first.
    pub kids: Vec<String>,
    /// The file its standard error goes to.
    pub log: PathBuf,
}

impl OidcProvider {
    /// Starts the provider with the signing keys in `keys_file` (created when missing) on
    /// `port` (0: any free port), and waits for its ready line at most
    /// [`PROVIDER_READY_WITHIN`].
    pub fn start(
        install: &OidcInstall,
        keys_file: &Path,
        port: u16,
    ) -> Result<OidcProvider, Error> {
        Self::spawn(install, keys_file, port, false)
    }

    fn spawn(
        install: &OidcInstall,
        keys_file: &Path,
        port: u16,
        add_key: bool,
    ) -> Result<OidcProvider, Error> {
        let service = format!("oidc-provider (on port {port})");
        let failed = |reason: String| {
            Error::new(ErrorKind::Service {
                service: service.clone(),
                reason,
            })
        };
        let log = keys_file.with_extension(format!("{port}.log"));
        let stderr = fs::File::create(&log).map_err(|e| Error::io("create", &log, e))?;
        let mut command = Command::new(&install.node);
        command
            .arg(provider_script())
            .arg("--modules")
            .arg(&install.modules)
            .arg("--keys")
            .arg(keys_file)
            .arg("--port")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if add_key {
            command.arg("--add-key");
        }
        let mut child = ChildGuard::spawn(&mut command)?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed("its standard output is not a pipe".to_owned()))?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the provider never blocks on a full pipe.
            for _ in lines {}
        });
        let waiting = Instant::now();
        let ready = rx.recv_timeout(PROVIDER_READY_WITHIN).map_err(|_| {
            let status = child
                .wait_within(Duration::from_secs(1))
                .map_or("still running".to_owned(), |s| s.to_string());
            failed(format!(
                "printed no ready line after {:.1} s ({status}); its log:\n{}",
                waiting.elapsed().as_secs_f64(),
                fs::read_to_string(&log).unwrap_or_default().trim_end()
            ))
        })?;
        let parsed: Value = serde_json::from_str(&ready)
            .map_err(|e| failed(format!("its ready line {ready:?} is not JSON: {e}")))?;
        let field = |name: &str| failed(format!("its ready line {ready} has no `{name}`"));
        Ok(OidcProvider {
            issuer: parsed["issuer"]
                .as_str()
                .ok_or_else(|| field("issuer"))?
                .to_owned(),
            port: parsed["port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| field("port"))?,
            kids: parsed["kids"]
                .as_array()
                .ok_or_else(|| field("kids"))?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            child,
            install: install.clone(),
            keys_file: keys_file.to_owned(),
            log,
        })
    }

    /// Stops the provider and starts it again on the same port (so with the same issuer),
    /// with a new RS256 signing key first in its key file: it signs new RS256 tokens, the
    /// older keys stay published. This is key rotation. Retries for a while when the port
    /// is not free yet.
    pub fn restart_with_new_key(&mut self) -> Result<(), Error> {
        // SIGKILL: on SIGTERM it would wait for idle keep-alive connections to close.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + RESTART_WITHIN;
        let mut add_key = true;
        loop {
            match Self::spawn(&self.install, &self.keys_file, self.port, add_key) {
                Ok(started) => {
                    *self = started;
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("baton-devtools: the provider did not restart, retrying: {e}");
                    // The failed attempt has added the key to the file already.
                    add_key = false;
                    thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An access token from the client-credentials grant, for `resource` (its `aud`) with
    /// `scope` (space-separated).
    pub async fn token(
        &self,
        client: OidcClient,
        resource: &str,
        scope: &str,
    ) -> Result<String, Error> {
        let failed = |reason: String| self.failure(reason);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("resource", resource)
            .append_pair("scope", scope)
            .finish();
        let response = http()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client.id, Some(client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| failed(format!("the token request failed: {e}")))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| failed(format!("the token response ({status}) is not JSON: {e}")))?;
        if !status.is_success() {
            return Err(failed(format!(
                "the token request for {} was refused: {status} {answer}",
                client.id
            )));
        }
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| failed(format!("the token response has no access_token: {answer}")))
    }

    /// How many times `/jwks` was fetched from this provider process (its test-only
    /// `/__test/stats` route).
    pub async fn jwks_requests(&self) -> Result<u64, Error> {
        let stats: Value = http()
            .get(format!("{}/__test/stats", self.issuer))
            .send()
            .await
            .map_err(|e| self.failure(format!("the stats request failed: {e}")))?
            .json()
            .await
            .map_err(|e| self.failure(format!("the stats are not JSON: {e}")))?;
        stats["jwks_requests"]
            .as_u64()
            .ok_or_else(|| self.failure(format!("the stats have no jwks_requests: {stats}")))
    }

    fn failure(&self, reason: String) -> Error {
        Error::new(ErrorKind::Service {
            service: format!("oidc-provider at {}", self.issuer),
            reason,
        })
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_LIMIT)
        .build()
        .unwrap_or_default()
}
