//! Fleet test support: several real `baton` processes on one Postgres database, behind a
//! real nginx (rendered from `deploy/nginx/baton.conf`), plus a raw JSON-RPC client for
//! load loops and a TCP proxy that can cut the instances off from the database.
//!
//! Prerequisites: `psql` and a reachable Postgres (`BATON_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, used only to create and drop one database per
//! test), and nginx (`BATON_NGINX`, default `/usr/sbin/nginx`, else on `PATH`). When one is
//! missing, the fleet tests fail under `CI=true` and are skipped, loudly, otherwise.
//!
//! Everything listens on and connects to 127.0.0.1 only.

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::Server;

// ---------------------------------------------------------------------------------------
// Prerequisites
// ---------------------------------------------------------------------------------------

/// What a fleet test needs from the machine.
#[derive(Clone, Debug)]
pub struct Prerequisites {
    /// The nginx binary.
    pub nginx: PathBuf,
    /// The admin URL of the Postgres server (its database is used only for CREATE/DROP).
    pub admin_url: String,
}

/// Finds nginx, `psql` and Postgres. When something is missing: panics under `CI=true`,
/// otherwise prints a loud skip notice and returns `None` (the test then returns).
pub fn prerequisites(test: &str) -> Option<Prerequisites> {
    match find_prerequisites() {
        Ok(p) => Some(p),
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "fleet test `{test}` needs nginx and Postgres, required under CI=true: {reason}\n\
                     Install nginx with `apt-get install -y nginx`; start Postgres with \
                     `pg_ctlcluster <version> main start` (or set BATON_TEST_POSTGRES_URL)."
                );
            }
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 * SKIPPED: fleet test `{test}` did not run.\n\
                 * {reason}\n\
                 * Install nginx (apt-get install -y nginx) and start Postgres on\n\
                 * 127.0.0.1:5432 (or set BATON_NGINX / BATON_TEST_POSTGRES_URL).\n\
                 ************************************************************************\n"
            );
            None
        }
    }
}

fn find_prerequisites() -> Result<Prerequisites, String> {
    let nginx = find_nginx().ok_or_else(|| {
        "nginx not found (looked at $BATON_NGINX, /usr/sbin/nginx and PATH)".to_owned()
    })?;
    let admin_url = admin_url();
    psql(&admin_url, "SELECT 1")
        .map_err(|e| format!("Postgres is not usable at {admin_url}: {e}"))?;
    Ok(Prerequisites { nginx, admin_url })
}

fn find_nginx() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("BATON_NGINX") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let default = PathBuf::from("/usr/sbin/nginx");
    if default.exists() {
        return Some(default);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nginx"))
            .find(|p| p.exists())
    })
}

/// The admin URL of the test Postgres server.
pub fn admin_url() -> String {
    std::env::var("BATON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database replaced by `database` (and its port by `port`, if given).
pub fn with_database(url: &str, database: &str, port: Option<u16>) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut authority = base[scheme_end..authority_end].to_owned();
    if let Some(port) = port {
        let host_start = authority.rfind('@').map_or(0, |i| i + 1);
        let host_end = match authority[host_start..].rfind(':') {
            Some(i) if !authority[host_start..].ends_with(']') => host_start + i,
            _ => authority.len(),
        };
        authority = format!("{}:{port}", &authority[..host_end]);
    }
    let base = format!("{}{authority}/{database}", &base[..scheme_end]);
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

/// The host and port of a postgres URL (for the cutting proxy).
fn host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (h.to_owned(), p.parse().unwrap_or(5432)),
        _ => (host_port.to_owned(), 5432),
    }
}

/// Runs one SQL command with `psql` and returns its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "psql failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// A database per test
// ---------------------------------------------------------------------------------------

/// A uniquely named database, dropped (`WITH (FORCE)`) when this is dropped.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates `baton_fleet_<pid>_<n>`.
    pub fn create(admin_url: &str) -> TestDatabase {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "baton_fleet_{}_{:x}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        TestDatabase {
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// The URL of this database on the server (or through a proxy on `port`).
    pub fn url(&self, port: Option<u16>) -> String {
        with_database(&self.admin_url, &self.name, port)
    }

    /// Runs SQL on this database.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        psql(&self.url(None), sql)
    }

    /// Terminates every connection to this database except the caller's own (what a
    /// database restart or failover does to the instances' pools); returns how many.
    pub fn terminate_connections(&self) -> usize {
        let sql = format!(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        );
        psql(&self.admin_url, &sql)
            .unwrap_or_else(|e| panic!("pg_terminate_backend failed: {e}"))
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

// ---------------------------------------------------------------------------------------
// A TCP proxy in front of Postgres that can cut every connection
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct ProxyState {
    up: AtomicBool,
    stopped: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

/// A TCP proxy on 127.0.0.1 in front of Postgres. [`DbProxy::cut`] drops every open
/// connection and closes the listening socket, so that new connections are refused (as when
/// the database is down), until [`DbProxy::restore`] listens again on the same port. Runs
/// on its own threads, so it keeps working while a test blocks.
pub struct DbProxy {
    /// The port it listens on.
    pub port: u16,
    state: Arc<ProxyState>,
}

impl DbProxy {
    /// Starts a proxy to the server of `admin_url`.
    pub fn start(admin_url: &str) -> DbProxy {
        let (host, port) = host_port(admin_url);
        let target = format!("{host}:{port}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the database proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = Arc::new(ProxyState::default());
        state.up.store(true, Ordering::SeqCst);
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let pause = || std::thread::sleep(Duration::from_millis(5));
            let mut listener = Some(listener);
            while !shared.stopped.load(Ordering::SeqCst) {
                if !shared.up.load(Ordering::SeqCst) {
                    // Closing the socket makes new connections fail with "refused".
                    listener = None;
                    pause();
                    continue;
                }
                let Some(l) = listener.as_ref() else {
                    // std sets SO_REUSEADDR, so the port can be bound again at once.
                    listener = TcpListener::bind(("127.0.0.1", port)).ok();
                    pause();
                    continue;
                };
                if l.set_nonblocking(true).is_err() {
                    pause();
                    continue;
                }
                let client = match l.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        pause();
                        continue;
                    }
                };
                let Ok(server) = TcpStream::connect(&target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut live = shared.live.lock().expect("proxy lock");
                    live.retain(|s| s.peer_addr().is_ok());
                    for s in [&client, &server] {
                        if let Ok(clone) = s.try_clone() {
                            live.push(clone);
                        }
                    }
                }
                if !shared.up.load(Ordering::SeqCst) {
                    // Cut while this one was being accepted.
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                    continue;
                }
                for (mut from, mut to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        DbProxy { port, state }
    }

    /// Cuts every open connection and refuses new ones until [`DbProxy::restore`] (within
    /// 5 ms: the accept loop polls).
    pub fn cut(&self) {
        self.state.up.store(false, Ordering::SeqCst);
        for s in self.state.live.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.cut();
    }
}

// ---------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------

/// The shipped nginx template, `deploy/nginx/baton.conf`.
pub fn nginx_template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/baton.conf")
}

/// Renders the shipped template the way `envsubst '${BATON_LISTEN} ${BATON_UPSTREAM_SERVERS}'`
/// does.
pub fn render_nginx_template(template: &str, listen: &str, upstreams: &[u16]) -> String {
    let servers = upstreams
        .iter()
        .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"))
        .collect::<Vec<_>>()
        .join(" ");
    let rendered = template
        .replace("${BATON_LISTEN}", listen)
        .replace("${BATON_UPSTREAM_SERVERS}", &servers);
    assert!(
        !rendered.contains("${BATON_"),
        "deploy/nginx/baton.conf has a placeholder the test does not fill"
    );
    rendered
}

/// nginx as a child process (`daemon off`), with its prefix, config, pid file and logs in a
/// temporary directory, round-robin over baton instances.
pub struct Nginx {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on a free port in front of the instances on `upstreams`, and waits until
    /// `/healthz` answers 200 through it.
    pub fn start(binary: &Path, upstreams: &[u16]) -> Nginx {
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(binary, upstreams) {
                Ok(nginx) => return nginx,
                Err(e) => last_error = e,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn try_start(binary: &Path, upstreams: &[u16]) -> Result<Nginx, String> {
        let dir = tempfile::Builder::new()
            .prefix("baton-nginx-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path().display().to_string();
        // When the tests run as root, nginx's workers run as `nobody`: they must reach the
        // directory (not its contents, which the master opens).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        let port = free_port();
        let template = std::fs::read_to_string(nginx_template_path())
            .map_err(|e| format!("cannot read deploy/nginx/baton.conf: {e}"))?;
        let site = render_nginx_template(&template, &format!("127.0.0.1:{port}"), upstreams);
        std::fs::write(dir.path().join("baton.conf"), site).map_err(|e| e.to_string())?;
        let main = format!(
            "worker_processes 1;\n\
             worker_rlimit_nofile 8192;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20   log_format upstreams '$status $upstream_addr $upstream_status $request_time $request_method $request_uri';\n\
             \x20   access_log {d}/access.log upstreams;\n\
             \x20   client_body_temp_path {d}/client_body;\n\
             \x20   proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/uwsgi;\n\
             \x20   scgi_temp_path {d}/scgi;\n\
             \x20   include {d}/baton.conf;\n\
             }}\n"
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main).map_err(|e| e.to_string())?;
        let mut child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited with {status}:\n{log}"));
            }
            if http_get(port, "/healthz").is_ok_and(|(status, _)| status == 200) {
                return Ok(Nginx { child, port, dir });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                return Err(format!("nginx did not answer /healthz within 10 s:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The MCP endpoint through nginx.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/mcp", self.port)
    }

    /// The access log: one `status upstream_addr upstream_status time method uri` line per
    /// request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The error log.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers; SIGKILL would orphan them.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1 (bound and released; a race with another binder is retried by
/// the caller).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A blocking `GET` on 127.0.0.1:`port`; returns the status and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

// ---------------------------------------------------------------------------------------
// The fleet
// ---------------------------------------------------------------------------------------

/// Several `baton serve` processes on one fresh database, optionally behind nginx and
/// optionally reaching the database through a [`DbProxy`]. Dropping it stops nginx, kills
/// the instances and drops the database, in that order.
pub struct Fleet {
    /// nginx, when asked for.
    pub nginx: Option<Nginx>,
    /// The instances; `None` once killed.
    pub instances: Vec<Option<Server>>,
    /// The proxy between the instances and Postgres, when asked for.
    pub proxy: Option<DbProxy>,
    /// The database.
    pub db: TestDatabase,
}

/// How to start a [`Fleet`].
pub struct FleetOptions<'a> {
    /// How many instances.
    pub instances: usize,
    /// Put nginx in front.
    pub nginx: bool,
    /// Route the instances' database connections through a [`DbProxy`].
    pub proxy: bool,
    /// Extra `baton serve` arguments for every instance.
    pub extra_args: &'a [&'a str],
}

impl Fleet {
    /// Creates the database and starts every instance at once, each with `--migrate` (they
    /// take turns through Postgres' advisory lock, and agree on one handle-signing key),
    /// then nginx.
    pub fn start(pre: &Prerequisites, options: FleetOptions<'_>) -> Fleet {
        let db = TestDatabase::create(&pre.admin_url);
        let proxy = options.proxy.then(|| DbProxy::start(&pre.admin_url));
        let url = db.url(proxy.as_ref().map(|p| p.port));
        let mut args = vec!["--database-url", url.as_str(), "--migrate"];
        args.extend_from_slice(options.extra_args);
        let instances: Vec<Option<Server>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..options.instances)
                .map(|_| scope.spawn(|| Server::start(&args)))
                .collect();
            handles
                .into_iter()
                .map(|h| Some(h.join().expect("instance started")))
                .collect()
        });
        let nginx = options.nginx.then(|| {
            let ports: Vec<u16> = instances.iter().flatten().map(|s| s.addr.port()).collect();
            Nginx::start(&pre.nginx, &ports)
        });
        Fleet {
            nginx,
            instances,
            proxy,
            db,
        }
    }

    /// The MCP URL of instance `i`.
    pub fn url(&self, i: usize) -> String {
        self.instances[i]
            .as_ref()
            .unwrap_or_else(|| panic!("instance {i} was killed"))
            .url()
    }

    /// The MCP URLs of the live instances.
    pub fn live_urls(&self) -> Vec<String> {
        self.instances.iter().flatten().map(Server::url).collect()
    }

    /// The MCP URL through nginx.
    pub fn lb_url(&self) -> String {
        self.nginx.as_ref().expect("fleet has nginx").url()
    }

    /// The nginx in front.
    pub fn lb(&self) -> &Nginx {
        self.nginx.as_ref().expect("fleet has nginx")
    }

    /// SIGKILLs instance `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(server) = self.instances[i].take() {
            server.kill();
        }
    }

    /// The logs of every instance, for failure messages.
    pub fn logs(&self) -> String {
        self.instances
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .map(|s| format!("--- instance {i}:\n{}", s.logs()))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---------------------------------------------------------------------------------------
// A raw JSON-RPC client for load loops
// ---------------------------------------------------------------------------------------

/// What one `tools/call` came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The tool succeeded: its structured content.
    Ok(Value),
    /// The tool answered an error: its text.
    ToolError(String),
    /// No tool answer: transport error, non-200 status, or a JSON-RPC error.
    Failed(String),
}

impl Outcome {
    /// The structured content; panics otherwise.
    pub fn ok(&self) -> &Value {
        match self {
            Outcome::Ok(v) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    /// Whether the tool succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }
}

/// A stateless MCP client that speaks raw JSON-RPC over HTTP: each call is one POST, and a
/// failed call leaves nothing behind (unlike a session-holding client).
#[derive(Clone)]
pub struct Rpc {
    http: reqwest::Client,
    next_id: Arc<AtomicU64>,
}

impl Default for Rpc {
    fn default() -> Self {
        Rpc::new(Duration::from_secs(20))
    }
}

impl Rpc {
    /// A client whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Rpc {
        Rpc {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(2))
                .no_proxy()
                .build()
                .expect("http client"),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// `tools/call` of `tool` with `arguments` at `url`.
    pub async fn call(&self, url: &str, tool: &str, arguments: Value) -> Outcome {
        const VERSION: &str = "2026-07-28";
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "tools/call",
            "params": {
                "name": tool,
                "arguments": arguments,
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": VERSION,
                    "io.modelcontextprotocol/clientCapabilities": {}
                }
            }
        });
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", VERSION)
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool)
            .body(body.to_string())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("transport: {e}")),
        };
        let status = response.status().as_u16();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(format!("status {status}, body unreadable: {e}")),
        };
        if status != 200 {
            return Outcome::Failed(format!("status {status}: {}", text.trim()));
        }
        let Ok(reply) = serde_json::from_str::<Value>(&text) else {
            return Outcome::Failed(format!("status 200, not JSON: {text}"));
        };
        if reply.get("error").is_some() {
            return Outcome::Failed(format!("JSON-RPC error: {}", reply["error"]));
        }
        let result = &reply["result"];
        if result["isError"] == json!(true) {
            let text = result["content"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|b| b["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            Outcome::ToolError(text)
        } else {
            match result.get("structuredContent") {
                Some(v) => Outcome::Ok(v.clone()),
                None => Outcome::Failed(format!("no structured content: {result}")),
            }
        }
    }

    /// Every finding of a task, following `next_cursor` (pages of 200).
    pub async fn all_findings(&self, url: &str, handle: &str) -> Result<Vec<Value>, String> {
        let mut findings = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let mut args = json!({"handle": handle, "limit": 200});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = match self.call(url, "get_task_results", args).await {
                Outcome::Ok(v) => v,
                other => return Err(format!("get_task_results: {other:?}")),
            };
            findings.extend(page["findings"].as_array().cloned().unwrap_or_default());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(findings),
            }
        }
        Err("more than 1,000 pages".to_owned())
    }

    /// Every task the caller can list at `url` (optionally in one status), following
    /// `next_cursor`.
    pub async fn all_tasks(&self, url: &str, status: Option<&str>) -> Result<Vec<Value>, String> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let mut args = json!({"limit": 200});
            if let Some(s) = status {
                args["status"] = json!(s);
            }
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = match self.call(url, "list_research_tasks", args).await {
                Outcome::Ok(v) => v,
                other => return Err(format!("list_research_tasks: {other:?}")),
            };
            tasks.extend(page["tasks"].as_array().cloned().unwrap_or_default());
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(tasks),
            }
        }
        Err("more than 1,000 pages".to_owned())
    }
}

/// `GET /readyz` on 127.0.0.1:`port`: its status, or 0 when unreachable.
pub fn readyz(port: u16) -> u16 {
    http_get(port, "/readyz").map_or(0, |(status, _)| status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x", None),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
                "x",
                Some(7)
            ),
            "postgres://postgres@127.0.0.1:7/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u:p@localhost/test", "x", Some(7)),
            "postgres://u:p@localhost:7/x"
        );
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/test"),
            ("127.0.0.1".to_owned(), 5433)
        );
        assert_eq!(host_port("postgres://u:p@db/test"), ("db".to_owned(), 5432));
    }

    #[test]
    fn the_shipped_template_renders() {
        let template = std::fs::read_to_string(nginx_template_path()).unwrap();
        // Each placeholder appears once, where it belongs (not in a comment, which envsubst
        // would rewrite too).
        assert_eq!(template.matches("${BATON_LISTEN}").count(), 1);
        assert_eq!(template.matches("${BATON_UPSTREAM_SERVERS}").count(), 1);
        let site = render_nginx_template(&template, "127.0.0.1:1", &[2, 3]);
        assert!(site.contains("listen 127.0.0.1:1;"));
        assert!(site.contains("server 127.0.0.1:2 max_fails=1 fail_timeout=2s;"));
        assert!(site.contains("proxy_next_upstream error timeout;"));
        assert!(!site.contains("non_idempotent;"));
    }
}
