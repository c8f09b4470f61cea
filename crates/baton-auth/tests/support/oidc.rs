//! A real authorization server for tests: the npm package `oidc-provider`, run by
//! `tests/clients/oidc/provider.mjs` on 127.0.0.1.
//!
//! The package is installed with npm into the cache folder (`$BATON_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/baton`, else `~/.cache/baton`) as `oidc-provider-<version>`, under a lock
//! directory, never into the repository. When it cannot be installed: under CI (CI set and not
//! empty, `0` or `false`) the test fails; elsewhere it prints a `BATON-SKIP:` line and returns.

use std::{
    fs,
    io::{BufRead, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The pinned oidc-provider release (runs on Node 20, with a warning that Node 22 is the
/// supported LTS).
pub const OIDC_PROVIDER_VERSION: &str = "9.13.3";

/// How long a starting provider may take to print its ready line.
pub const READY_DEADLINE: Duration = Duration::from_secs(180);

/// The provider's clients (see provider.mjs).
pub const CLIENT: (&str, &str) = ("baton-test", "baton-test-secret");
pub const SHORT_LIVED_CLIENT: (&str, &str) = ("baton-short", "baton-short-secret");
pub const ES256_CLIENT: (&str, &str) = ("baton-es256", "baton-es256-secret");

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")
    })
}

/// Fails under CI, prints a `BATON-SKIP:` line elsewhere; `None` so a test can return.
pub fn unavailable<T>(what: &str, error: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is unavailable, and CI is set, so this is a failure: {error}");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`.
    let _ = writeln!(
        std::io::stderr(),
        "BATON-SKIP: {what} is unavailable (no npm registry access?): {error}"
    );
    None
}

pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BATON_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("baton");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/baton")
}

/// Holds `<cache>/<name>.lock` (creating a directory is atomic) while installing.
struct InstallLock(PathBuf);

impl InstallLock {
    fn take(name: &str) -> Result<InstallLock, String> {
        fs::create_dir_all(cache_dir()).map_err(|e| format!("{}: {e}", cache_dir().display()))?;
        let path = cache_dir().join(format!("{name}.lock"));
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match fs::create_dir(&path) {
                Ok(()) => return Ok(InstallLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if Instant::now() > deadline {
                        // A crashed installer left it behind: take it over.
                        return Ok(InstallLock(path));
                    }
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
    }
}

/// The npm prefix folder holding oidc-provider, installed on first use.
pub fn install() -> Result<PathBuf, String> {
    let name = format!("oidc-provider-{OIDC_PROVIDER_VERSION}");
    let _lock = InstallLock::take(&name)?;
    let dir = cache_dir().join(&name);
    let manifest = dir.join("node_modules/oidc-provider/package.json");
    let installed = fs::read_to_string(&manifest)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(OIDC_PROVIDER_VERSION) {
        return Ok(dir);
    }
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = Command::new("npm")
        .current_dir(&dir)
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--prefix",
        ])
        .arg(&dir)
        .arg(format!("oidc-provider@{OIDC_PROVIDER_VERSION}"))
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm install failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if manifest.exists() {
        Ok(dir)
    } else {
        Err(format!("npm left no {}", manifest.display()))
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/oidc/provider.mjs")
}

/// A running provider; killed (by its process id) when dropped.
pub struct Provider {
    child: Child,
    pub issuer: String,
    pub port: u16,
    pub kids: Vec<String>,
    pub log: PathBuf,
}

impl Provider {
    /// Starts the provider with the keys in `keys_file` (created when missing) on `port`
    /// (0: any free port), adding a new signing key first when `add_key`. Waits for its ready
    /// line at most [`READY_DEADLINE`]: generous, because a loaded machine can take many
    /// seconds to start Node.
    pub fn start(
        modules: &Path,
        keys_file: &Path,
        port: u16,
        add_key: bool,
    ) -> Result<Provider, String> {
        let log = keys_file.with_extension(format!("{port}.log"));
        let stderr = fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut command = Command::new("node");
        command
            .arg(script())
            .arg("--modules")
            .arg(modules)
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
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
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
        let ready = match rx.recv_timeout(READY_DEADLINE) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait();
                return Err(format!(
                    "the provider printed no ready line after {:.1} s ({e}; exit {status:?}): {}",
                    waiting.elapsed().as_secs_f64(),
                    fs::read_to_string(&log).unwrap_or_default()
                ));
            }
        };
        let ready: Value = serde_json::from_str(&ready).map_err(|e| format!("{ready}: {e}"))?;
        Ok(Provider {
            child,
            issuer: ready["issuer"].as_str().ok_or("no issuer")?.to_owned(),
            port: ready["port"].as_u64().ok_or("no port")? as u16,
            kids: ready["kids"]
                .as_array()
                .ok_or("no kids")?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            log,
        })
    }

    /// Stops this provider and starts it again on the same port (so with the same issuer),
    /// with a new signing key added. Retries for a while if the port is not free yet.
    pub fn restart_with_new_key(&mut self, modules: &Path, keys_file: &Path) -> Result<(), String> {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut add_key = true;
        loop {
            match Provider::start(modules, keys_file, self.port, add_key) {
                Ok(mut started) => {
                    std::mem::swap(self, &mut started);
                    return Ok(());
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("provider restart failed, retrying: {e}");
                    // The key was added to the file by the failed attempt already.
                    add_key = false;
                    thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// An access token from the client-credentials grant, for `resource` with `scope`.
    pub async fn token(&self, client: (&str, &str), resource: &str, scope: &str) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("resource", resource)
            .append_pair("scope", scope)
            .finish();
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client.0, Some(client.1))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("token request");
        let status = response.status();
        let answer: Value = response.json().await.expect("token response is JSON");
        assert!(
            status.is_success(),
            "token request failed: {status} {answer}"
        );
        answer["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// How many times `/jwks` was fetched from this provider process.
    pub async fn jwks_requests(&self) -> u64 {
        let stats: Value = reqwest::get(format!("{}/__test/stats", self.issuer))
            .await
            .expect("stats request")
            .json()
            .await
            .expect("stats JSON");
        stats["jwks_requests"].as_u64().expect("jwks_requests")
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}
