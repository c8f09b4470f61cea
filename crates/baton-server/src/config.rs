//! Configuration: every `baton serve` flag, each also readable from a `BATON_*` variable.

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use baton_protocol::Limits;
use clap::{Args, ValueEnum};

/// How `tools/list` exposes the catalog. Fixed at start-up: it never changes per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ToolExposure {
    /// `tools/list` returns every tool.
    Full,
    /// `tools/list` returns pinned tools plus `search_tools` and `call_tool`; every tool
    /// stays callable by name.
    Search,
}

/// How HTTP callers prove who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum)]
pub enum AuthMethodArg {
    /// No authentication: every HTTP caller is the principal `anonymous`. Allowed only when
    /// every listen address is loopback, unless `--allow-unauthenticated`.
    None,
    /// API keys made by `baton token create`, sent as `Authorization: Bearer baton_…`.
    ApiKey,
    /// OAuth 2.1 JWT access tokens from the `--oauth-issuer`s, for `--resource-uri`.
    Oauth,
}

/// `baton serve`'s authentication options.
#[derive(Clone, Debug, Args)]
pub struct AuthArgs {
    /// How HTTP callers authenticate: `none`, or `api-key` and/or `oauth` (comma-separated
    /// or repeated, to accept both). stdio callers act as --stdio-principal.
    #[arg(
        long = "auth",
        env = "BATON_AUTH",
        value_enum,
        value_delimiter = ',',
        default_value = "none"
    )]
    pub methods: Vec<AuthMethodArg>,

    /// Serve without authentication on a non-loopback address (only behind a proxy that
    /// authenticates callers: every caller is then the same principal).
    #[arg(long, env = "BATON_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    /// baton's canonical MCP URL, as clients reach it (e.g. `https://baton.example.com/mcp`):
    /// the audience OAuth tokens must name (RFC 8707) and the `resource` of the Protected
    /// Resource Metadata. Required with `--auth oauth`; default `http://LISTEN/mcp`.
    #[arg(long, env = "BATON_RESOURCE_URI")]
    pub resource_uri: Option<String>,

    /// Accepted OAuth token issuers (each token's `iss`, exactly), comma-separated.
    #[arg(
        long = "oauth-issuer",
        env = "BATON_OAUTH_ISSUERS",
        value_delimiter = ','
    )]
    pub oauth_issuers: Vec<String>,

    /// Where an issuer publishes its keys, as `ISSUER=JWKS_URI`, comma-separated (default:
    /// discovered from the issuer's RFC 8414 or OpenID metadata).
    #[arg(
        long = "oauth-jwks-uri",
        env = "BATON_OAUTH_JWKS_URIS",
        value_delimiter = ','
    )]
    pub oauth_jwks_uris: Vec<String>,

    /// Clock skew tolerated on token `exp` and `nbf`.
    #[arg(long, env = "BATON_OAUTH_LEEWAY", default_value = "60s", value_parser = humantime::parse_duration)]
    pub oauth_leeway: Duration,

    /// Shortest time between two fetches of an issuer's keys for an unknown `kid`.
    #[arg(long, env = "BATON_OAUTH_JWKS_REFRESH", default_value = "30s", value_parser = humantime::parse_duration)]
    pub oauth_jwks_refresh: Duration,

    /// How long an instance caches an API key it looked up: a revoked key stops working on
    /// every instance within this time.
    #[arg(long, env = "BATON_API_KEY_CACHE_TTL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub api_key_cache_ttl: Duration,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Options of the store connection, shared by `serve`, `migrate`, `gc`.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// Where tasks live: `sqlite://PATH` (created on first run), `postgres://USER@HOST/DB`,
    /// `redis://HOST:PORT/DB` (`rediss://` for TLS) or `redis+cluster://HOST:PORT,HOST:PORT`
    /// (`?key_prefix=NAME` puts the keys under `NAME:`, default `baton`).
    #[arg(long, env = "BATON_DATABASE_URL", default_value = "sqlite://baton.db")]
    pub database_url: String,

    /// Most open database connections (default: 16 on Postgres, one of them (one per 32
    /// above that, at most 4) a pipelined read lane for the task-by-id read; 4 readers on
    /// SQLite, whose one writer is separate, and as many again for the task-by-id read,
    /// opened on first use; more readers than cores only cost memory).
    #[arg(long, env = "BATON_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// How long a request may wait for a free connection before failing as unavailable (on
    /// Redis: how long a connection attempt may take).
    #[arg(long, env = "BATON_DB_ACQUIRE_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub db_acquire_timeout: Duration,

    /// Longest a single statement may run (Postgres `statement_timeout`; SQLite busy timeout;
    /// Redis: how long a call waits for its answer).
    #[arg(long, env = "BATON_DB_STATEMENT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_statement_timeout: Duration,
}

/// `baton serve` options.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on for Streamable HTTP (`POST /mcp`). Port 0 picks a free port.
    #[arg(long, env = "BATON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Serve MCP over stdin/stdout instead of HTTP (logs go to stderr).
    #[arg(long, env = "BATON_STDIO")]
    pub stdio: bool,

    /// The store connection.
    #[command(flatten, next_help_heading = "Database")]
    pub database: DatabaseArgs,

    /// Apply pending migrations at start (Postgres; SQLite always migrates on open).
    /// Instances starting together take turns through an advisory lock.
    #[arg(long, env = "BATON_MIGRATE")]
    pub migrate: bool,

    /// Host names accepted in the `Host` header (DNS-rebinding guard), comma-separated.
    #[arg(
        long,
        env = "BATON_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1,::1"
    )]
    pub allowed_hosts: Vec<String>,

    /// Accept any `Host` header (behind a proxy that checks it).
    #[arg(long, env = "BATON_ANY_HOST")]
    pub any_host: bool,

    /// Origins accepted in the `Origin` header (`scheme://host[:port]`, `:*` for any port),
    /// comma-separated; a request with another Origin gets 403. Default: pages served from
    /// the allowed hosts (loopback with --any-host). Requests without an Origin always pass.
    #[arg(long, env = "BATON_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Largest request body, in bytes; larger ones get 413.
    #[arg(long, env = "BATON_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "BATON_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Most requests served at once; more are answered 503 at once rather than queued.
    #[arg(long, env = "BATON_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// A task expires after this long without use.
    #[arg(long, env = "BATON_IDLE_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub idle_ttl: Duration,

    /// A task expires this long after its creation, however much it is used.
    #[arg(long, env = "BATON_ABSOLUTE_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    pub absolute_ttl: Duration,

    /// How often expired tasks are deleted.
    #[arg(long, env = "BATON_SWEEP_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub sweep_interval: Duration,

    /// Most expired tasks deleted per statement by the sweeper.
    #[arg(long, env = "BATON_SWEEP_BATCH", default_value_t = 500)]
    pub sweep_batch: u32,

    /// Handle-signing keys.
    #[command(flatten, next_help_heading = "Handle-signing keys")]
    pub keys: crate::keys::KeyArgs,

    /// Most findings one call may carry.
    #[arg(long, env = "BATON_MAX_FINDINGS_PER_CALL", default_value_t = 100)]
    pub max_findings_per_call: usize,

    /// Longest finding, in characters.
    #[arg(long, env = "BATON_MAX_FINDING_CHARS", default_value_t = 4000)]
    pub max_finding_chars: usize,

    /// Most findings a task may hold.
    #[arg(long, env = "BATON_MAX_FINDINGS_PER_TASK", default_value_t = 10_000)]
    pub max_findings_per_task: u32,

    /// Most live research tasks one principal may hold (they count until expired tasks
    /// are swept).
    #[arg(
        long,
        env = "BATON_MAX_LIVE_TASKS_PER_PRINCIPAL",
        default_value_t = 100_000
    )]
    pub max_live_tasks_per_principal: u64,

    /// Most bytes (UTF-8) of findings one principal's research tasks may hold together.
    #[arg(long, env = "BATON_MAX_STORED_BYTES_PER_PRINCIPAL", default_value_t = 1 << 30)]
    pub max_stored_bytes_per_principal: u64,

    /// How `tools/list` presents tools: every tool, or a search entry point.
    #[arg(long, env = "BATON_TOOL_EXPOSURE", value_enum, default_value_t = ToolExposure::Full)]
    pub tool_exposure: ToolExposure,

    /// Extra tool definitions (a JSON array of MCP Tool objects) to list and search.
    #[arg(long, env = "BATON_CATALOG")]
    pub catalog: Option<PathBuf>,

    /// Serve the fixture tools, prompts and resources (`test_*`) that the official MCP
    /// conformance suite calls. For conformance runs only; never on by default.
    #[arg(long, env = "BATON_CONFORMANCE_FIXTURES")]
    pub conformance_fixtures: bool,

    /// Authentication of HTTP callers.
    #[command(flatten, next_help_heading = "Authentication")]
    pub auth: AuthArgs,

    /// The principal stdio callers act as (HTTP callers get theirs from the request).
    #[arg(long, env = "BATON_STDIO_PRINCIPAL", default_value = "anonymous")]
    pub stdio_principal: String,

    /// Serve `GET /metrics` (Prometheus) on this address instead of on --listen. Either way
    /// it is never authenticated, rate-limited or shed: expose it only to the scraper.
    #[arg(long, env = "BATON_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Export OpenTelemetry traces by OTLP/HTTP (protobuf) to this collector, e.g.
    /// `http://127.0.0.1:4318` (spans go to `<URL>/v1/traces`): a span per MCP request and
    /// per store call, continuing the caller's W3C `traceparent`. Needs a build with the
    /// `otel` feature. Unset: no span is taken.
    #[arg(long, env = "BATON_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// How long to wait for in-flight requests on shutdown.
    #[arg(long, env = "BATON_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Rate limits, slow-client timeouts and connection caps of the HTTP transport.
    #[command(flatten, next_help_heading = "HTTP limits")]
    pub http_limits: HttpLimitArgs,

    /// How tool calls run as MCP tasks: lifetimes, leases, workers, limits.
    #[command(flatten, next_help_heading = "Tool tasks (MCP Tasks extension)")]
    pub tasks: crate::tool_tasks::TaskArgs,
}

impl ServeArgs {
    /// The tool-argument limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_findings_per_call: self.max_findings_per_call,
            max_finding_chars: self.max_finding_chars,
            max_findings_per_task: self.max_findings_per_task,
            max_live_tasks_per_principal: self.max_live_tasks_per_principal,
            max_stored_bytes_per_principal: self.max_stored_bytes_per_principal,
            ..Limits::default()
        }
    }

    /// The task lifetimes.
    pub fn lifetimes(&self) -> anyhow::Result<baton_store::Lifetimes> {
        self.checked_lifetimes()
    }
}

/// `baton serve`'s HTTP limits: rate limits, slow-client timeouts and connection caps. The
/// README's "Limits" section lists them with the answer each gives.
#[derive(Clone, Debug, Args)]
pub struct HttpLimitArgs {
    /// Requests each authenticated principal may make per second (`N/s`), minute (`N/m`) or
    /// hour (`N/h`) on this instance, after its burst; `off` for none. Over it: 429 with
    /// Retry-After. Not applied with --auth none (every caller is the same principal).
    #[arg(long, env = "BATON_RATE_LIMIT", default_value = "50/s")]
    pub rate_limit: crate::limits::RateLimit,

    /// Requests a principal may make at once before --rate-limit paces it.
    #[arg(long, env = "BATON_RATE_BURST", default_value = "100")]
    pub rate_burst: NonZeroU32,

    /// Requests failing authentication that one client address (IPv6: one /64) may make, per
    /// second, minute or hour, after its burst; `off` for none. Over it, failing requests get
    /// 429 with Retry-After instead of 401 (requests that authenticate are never refused).
    #[arg(long, env = "BATON_AUTH_FAILURE_RATE_LIMIT", default_value = "10/s")]
    pub auth_failure_rate_limit: crate::limits::RateLimit,

    /// Failing requests one client address may make at once before
    /// --auth-failure-rate-limit paces it.
    #[arg(long, env = "BATON_AUTH_FAILURE_BURST", default_value = "20")]
    pub auth_failure_burst: NonZeroU32,

    /// Most open client connections; one more is closed at once.
    #[arg(long, env = "BATON_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Most open connections from one client address (IPv6: one /64); one more is closed at
    /// once. 0: no per-address cap (behind a proxy, every client has the proxy's address).
    #[arg(long, env = "BATON_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    pub max_connections_per_ip: usize,

    /// Longest a connection may wait without sending a byte of a request (once accepted, or
    /// after each response: the keep-alive idle time); then it is closed. Keep it longer than
    /// the idle timeout of a proxy's connections to baton.
    #[arg(long, env = "BATON_IDLE_TIMEOUT", default_value = "75s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// Longest a request's headers may take to arrive, from their first byte; then the
    /// connection is closed.
    #[arg(long, env = "BATON_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Longest a request's body may take to arrive, once its headers have; then 408.
    #[arg(long, env = "BATON_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Duration,
}

/// The largest duration any timeout or interval flag accepts.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The largest count any size flag accepts.
const MAX_COUNT: u64 = 1_000_000;

/// Checks that `--flag`'s `value` is within `min..=max`, naming the flag if not.
fn check_duration(flag: &str, value: Duration, min: Duration, max: Duration) -> anyhow::Result<()> {
    let shown = humantime::format_duration(value);
    anyhow::ensure!(
        value >= min,
        "--{flag} {shown} is too short: it must be at least {}",
        humantime::format_duration(min)
    );
    anyhow::ensure!(
        value <= max,
        "--{flag} {shown} is too long: it may be at most {}",
        humantime::format_duration(max)
    );
    Ok(())
}

/// Checks that `--flag`'s `value` is within `min..=max`, naming the flag if not.
fn check_count(flag: &str, value: u64, min: u64, max: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (min..=max).contains(&value),
        "--{flag} {value} is out of range: it must be between {min} and {max}"
    );
    Ok(())
}

impl ServeArgs {
    /// Checks every duration and size flag at start-up, so that a mistake is an error naming
    /// the flag rather than a panic, an overflow or a silently dead background task.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.tasks.validate()?;
        const MS: Duration = Duration::from_millis(1);
        const ZERO: Duration = Duration::ZERO;
        let limits = &self.http_limits;
        let database = &self.database;
        let auth = &self.auth;
        for (flag, value, min, max) in [
            ("request-timeout", self.request_timeout, MS, MAX_TIMEOUT),
            (
                "sweep-interval",
                self.sweep_interval,
                Duration::from_millis(100),
                MAX_TIMEOUT,
            ),
            ("shutdown-grace", self.shutdown_grace, ZERO, MAX_TIMEOUT),
            (
                "db-acquire-timeout",
                database.db_acquire_timeout,
                MS,
                MAX_TIMEOUT,
            ),
            (
                "db-statement-timeout",
                database.db_statement_timeout,
                MS,
                MAX_TIMEOUT,
            ),
            ("oauth-leeway", auth.oauth_leeway, ZERO, MAX_TIMEOUT),
            (
                "oauth-jwks-refresh",
                auth.oauth_jwks_refresh,
                ZERO,
                MAX_TIMEOUT,
            ),
            (
                "api-key-cache-ttl",
                auth.api_key_cache_ttl,
                ZERO,
                MAX_TIMEOUT,
            ),
            (
                "key-reload-interval",
                self.keys.key_reload_interval,
                Duration::from_millis(100),
                MAX_TIMEOUT,
            ),
            ("idle-timeout", limits.idle_timeout, MS, MAX_TIMEOUT),
            (
                "header-read-timeout",
                limits.header_read_timeout,
                MS,
                MAX_TIMEOUT,
            ),
            (
                "body-read-timeout",
                limits.body_read_timeout,
                MS,
                MAX_TIMEOUT,
            ),
        ] {
            check_duration(flag, value, min, max)?;
        }
        let max_connections = limits.max_connections as u64;
        for (flag, value, min, max) in [
            ("max-body-bytes", self.max_body_bytes as u64, 1024, 1 << 30),
            (
                "max-concurrent-requests",
                self.max_concurrent_requests as u64,
                1,
                MAX_COUNT,
            ),
            ("sweep-batch", u64::from(self.sweep_batch), 1, 100_000),
            (
                "max-live-tasks-per-principal",
                self.max_live_tasks_per_principal,
                1,
                u64::MAX,
            ),
            (
                "max-stored-bytes-per-principal",
                self.max_stored_bytes_per_principal,
                1,
                u64::MAX,
            ),
            (
                "max-findings-per-call",
                self.max_findings_per_call as u64,
                1,
                MAX_COUNT,
            ),
            (
                "max-finding-chars",
                self.max_finding_chars as u64,
                1,
                MAX_COUNT,
            ),
            (
                "max-findings-per-task",
                u64::from(self.max_findings_per_task),
                1,
                MAX_COUNT,
            ),
            (
                "rate-burst",
                u64::from(limits.rate_burst.get()),
                1,
                MAX_COUNT,
            ),
            (
                "auth-failure-burst",
                u64::from(limits.auth_failure_burst.get()),
                1,
                MAX_COUNT,
            ),
            ("max-connections", max_connections, 1, MAX_COUNT),
            (
                "max-connections-per-ip",
                limits.max_connections_per_ip as u64,
                0,
                max_connections,
            ),
        ] {
            check_count(flag, value, min, max)?;
        }
        if let Some(n) = database.db_max_connections {
            check_count("db-max-connections", u64::from(n), 1, 10_000)?;
        }
        self.checked_lifetimes()?;
        if let Some(endpoint) = &self.otlp_endpoint {
            check_otlp_endpoint(endpoint)?;
        }
        Ok(())
    }

    /// The task lifetimes, checked by the store's rules, with errors naming the flags.
    fn checked_lifetimes(&self) -> anyhow::Result<baton_store::Lifetimes> {
        use baton_store::rules::LifetimesError as E;
        let too_long = |flag: &str, value: Duration| {
            anyhow::anyhow!(
                "--{flag} {} is too long: task lifetimes may be at most 100 years",
                humantime::format_duration(value)
            )
        };
        let idle = chrono::Duration::from_std(self.idle_ttl)
            .map_err(|_| too_long("idle-ttl", self.idle_ttl))?;
        let absolute = chrono::Duration::from_std(self.absolute_ttl)
            .map_err(|_| too_long("absolute-ttl", self.absolute_ttl))?;
        baton_store::Lifetimes::new(idle, absolute).map_err(|e| match e {
            E::IdleNotPositive => anyhow::anyhow!("--idle-ttl must be positive"),
            E::AbsoluteShorterThanIdle => anyhow::anyhow!(
                "--absolute-ttl {} is shorter than --idle-ttl {}: it must be at least as long",
                humantime::format_duration(self.absolute_ttl),
                humantime::format_duration(self.idle_ttl)
            ),
            E::TooLong => too_long("absolute-ttl", self.absolute_ttl),
        })
    }
}

/// `--otlp-endpoint`: an `http://` or `https://` URL, and a build that can export.
fn check_otlp_endpoint(endpoint: &str) -> anyhow::Result<()> {
    let shown = crate::store::redact(endpoint);
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|s| endpoint.len() > s.len() && endpoint.starts_with(s));
    anyhow::ensure!(
        scheme_ok,
        "--otlp-endpoint {shown}: expected an http:// or https:// URL (the collector's OTLP/HTTP base, e.g. http://127.0.0.1:4318)"
    );
    anyhow::ensure!(
        cfg!(feature = "otel"),
        "{}",
        crate::telemetry::without_otel(&shown)
    );
    Ok(())
}

/// Renders a duration the way people write it in config (`24h`, `7d`, `90s`).
pub fn human_duration(d: chrono::Duration) -> String {
    fn count(n: i64, unit: &str) -> String {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    }
    match d.num_seconds() {
        s if s > 0 && s % 86_400 == 0 => count(s / 86_400, "day"),
        s if s > 0 && s % 3_600 == 0 => count(s / 3_600, "hour"),
        s if s > 0 && s % 60 == 0 => count(s / 60, "minute"),
        s => count(s, "second"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(chrono::Duration::hours(24)), "1 day");
        assert_eq!(human_duration(chrono::Duration::days(7)), "7 days");
        assert_eq!(human_duration(chrono::Duration::days(11)), "11 days");
        assert_eq!(human_duration(chrono::Duration::hours(3)), "3 hours");
        assert_eq!(human_duration(chrono::Duration::seconds(90)), "90 seconds");
    }
}
