//! The `baton` command.

use std::sync::Arc;

use anyhow::Context;
use baton_server::{
    audit,
    config::{DatabaseArgs, LogFormat, ServeArgs},
    keys, store, sweeper, telemetry,
};
use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc rather than glibc's malloc (the `mimalloc` feature, on by default): see Cargo.toml.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// baton: a stateless MCP server for research tasks, with signed handles and durable state.
///
/// Without a subcommand, `baton` serves (as `baton serve`).
#[derive(Parser)]
#[command(name = "baton", version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. `RUST_LOG=baton_server=debug`).
    #[arg(long, env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    /// Tokio worker threads (default: one per core).
    #[arg(long, env = "BATON_WORKER_THREADS", global = true)]
    worker_threads: Option<usize>,

    /// A TOML file setting any `baton serve` flag by its long name (`listen = "…"`).
    /// Precedence: flag > environment variable > file > default.
    #[arg(long, env = "BATON_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over Streamable HTTP (default) or stdio.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations, or list them with --check.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Only report pending migrations; exit 1 when there are some.
        #[arg(long)]
        check: bool,
    },
    /// Delete expired tasks now (the server also does this in the background).
    Gc {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Most tasks deleted per statement.
        #[arg(long, default_value_t = 1000)]
        batch: u32,
    },
    /// Bulk-create synthetic running tasks (for benchmarks and load tests) and write a sample
    /// of their handles, one per line.
    Seed {
        #[command(flatten)]
        database: DatabaseArgs,
        /// How many tasks to create.
        #[arg(long)]
        count: u64,
        /// Where to write handles (--sample of them, spread over all tasks).
        #[arg(long)]
        handles_out: std::path::PathBuf,
        /// How many handles to write.
        #[arg(long, default_value_t = 1000)]
        sample: u64,
        /// The principal that owns the tasks (HTTP callers without auth are `anonymous`).
        #[arg(long, default_value = "anonymous")]
        owner: String,
        /// Handle-signing keys, as for `baton serve` (default: the keys in the database).
        #[command(flatten)]
        keys: baton_server::keys::KeyArgs,
    },
    /// Manage handle-signing keys kept in the database.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage API keys (for `baton serve --auth api-key`); only their hashes are stored.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Check a configuration (`--config` file, variables and flags).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validate the configuration `baton serve` would run with (the `--config` file, the
    /// `BATON_*` variables and these flags) and print it as TOML, each value with where it
    /// came from, secrets redacted. Exits non-zero, naming the key, when it is not valid.
    Check(Box<ServeArgs>),
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create an API key acting for a principal. The key is printed once, alone on stdout
    /// (details go to stderr): store it now, it cannot be shown again.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The principal the key acts for (letters, digits, `.`, `_`, `-`, `@`); callers
        /// using it are the principal `key:NAME`.
        #[arg(long)]
        principal: String,
        /// Scopes it grants, comma-separated or repeated: research:read, research:write
        /// (implies read), tools:search. Default: all of them.
        #[arg(long = "scope", value_delimiter = ',')]
        scopes: Vec<String>,
        /// How long it works (e.g. `30d`, `12h`). Default: until revoked.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
    },
    /// List API keys: id, principal, scopes, created, expires, state. Never the secrets.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke an API key by id; every instance refuses it within --api-key-cache-ttl.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The key's id (from `baton token list`, or the part after `baton_` in the key).
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// List keys: id, creation time and state (signing, verifying, retired); never secrets.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Add a verify-only key with the next id. Running instances learn it within
    /// --key-reload-interval; promote it after that, so that no instance meets a handle
    /// signed with a key it does not know yet (instances also reload on such a handle).
    Add {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: baton_server::keys::KeyArgs,
    },
    /// Make a key the signer: new handles are signed with it; every key keeps verifying.
    Promote {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The key's id.
        id: u16,
    },
    /// Retire a key: handles signed with it stop working on every instance within
    /// --key-reload-interval. The signing key cannot be retired.
    Retire {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The key's id.
        id: u16,
    },
    /// Add a key and make it the signer at once (`add` then `promote`).
    Rotate {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: baton_server::keys::KeyArgs,
    },
    /// Seal every stored key that is not sealed yet with the key-encryption key.
    Encrypt {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: baton_server::keys::KeyArgs,
    },
}

fn main() -> anyhow::Result<()> {
    use baton_server::config_file::{self, ParseError};
    let parsed = match config_file::parse::<Cli>(std::env::args_os().collect(), &["serve"]) {
        Ok(parsed) => parsed,
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::File(e)) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = parsed.value;
    if let Some(Command::Config {
        action: ConfigAction::Check(args),
    }) = &cli.command
    {
        let effective = config_file::effective(&Cli::command(), &parsed.matches, &parsed.from_file);
        return config_check(args, parsed.file.as_deref(), &effective);
    }
    // Traces are for serving only (`--otlp-endpoint` is a `baton serve` flag).
    let otlp_endpoint = match &cli.command {
        None => cli.serve.otlp_endpoint.clone(),
        Some(Command::Serve(args)) => args.otlp_endpoint.clone(),
        Some(_) => None,
    };
    let traces = match telemetry::init(cli.log_format, otlp_endpoint.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = cli.worker_threads {
        anyhow::ensure!(
            n >= 1,
            "--worker-threads 0: at least 1 worker thread is needed"
        );
        runtime.worker_threads(n);
    }
    let runtime = runtime.build().context("cannot start the async runtime")?;
    let result = runtime.block_on(run(cli));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    drop(runtime);
    // Exports the spans still queued before the process ends.
    drop(traces);
    result
}

/// `baton config check`: validates, then prints the effective configuration.
fn config_check(
    args: &ServeArgs,
    file: Option<&std::path::Path>,
    effective: &str,
) -> anyhow::Result<()> {
    if let Err(e) = args.validate() {
        eprintln!("error: the configuration is not valid: {e:#}");
        std::process::exit(1);
    }
    match file {
        Some(file) => println!("# baton configuration: valid (file {})", file.display()),
        None => println!("# baton configuration: valid (no --config file)"),
    }
    print!("{effective}");
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => baton_server::serve(cli.serve).await,
        Some(Command::Serve(args)) => baton_server::serve(*args).await,
        Some(Command::Migrate { database, check }) => migrate(&database, check).await,
        Some(Command::Gc { database, batch }) => {
            let stores = store::open(&database, baton_store::Lifetimes::default(), false).await?;
            let deleted = sweeper::sweep_once(stores.research.as_ref(), batch).await?;
            println!("deleted {deleted} expired tasks");
            Ok(())
        }
        Some(Command::Seed {
            database,
            count,
            handles_out,
            sample,
            owner,
            keys,
        }) => {
            let lifetimes = baton_store::Lifetimes::default();
            let stores = store::open(&database, lifetimes, true).await?;
            let import = stores.import.as_ref().with_context(
                || "this database's backend cannot bulk-import tasks, so it cannot be seeded",
            )?;
            let handle_keys = keys::HandleKeys::load(&keys, Arc::clone(&stores.keys)).await?;
            let codecs = handle_keys.codecs();
            let started = std::time::Instant::now();
            let handles = baton_server::seed::seed(
                import.as_ref(),
                &codecs.task,
                &owner,
                count,
                sample,
                lifetimes,
            )
            .await?;
            std::fs::write(&handles_out, handles.join("\n") + "\n")
                .with_context(|| format!("cannot write {}", handles_out.display()))?;
            println!(
                "seeded {count} tasks in {:.1}s; {} handles written to {}",
                started.elapsed().as_secs_f64(),
                handles.len(),
                handles_out.display()
            );
            Ok(())
        }
        Some(Command::Token { action }) => token(action).await,
        Some(Command::Keys { action }) => keys_command(action).await,
        // Handled before the runtime starts.
        Some(Command::Config { .. }) => Ok(()),
    }
}

async fn keys_command(action: KeysAction) -> anyhow::Result<()> {
    use baton_server::keys::{KeyEncryption, admin};
    let database = match &action {
        KeysAction::List { database }
        | KeysAction::Add { database, .. }
        | KeysAction::Promote { database, .. }
        | KeysAction::Retire { database, .. }
        | KeysAction::Rotate { database, .. }
        | KeysAction::Encrypt { database, .. } => database,
    };
    let stores = store::open(database, baton_store::Lifetimes::default(), false).await?;
    let keys = stores.keys.as_ref();
    match action {
        KeysAction::List { .. } => {
            let all = keys.signing_keys().await?;
            println!("ID\tCREATED\tSTATE");
            for key in &all {
                println!(
                    "{}\t{}\t{}",
                    key.key_id,
                    key.created_at.to_rfc3339(),
                    admin::state(key, &all)
                );
            }
        }
        KeysAction::Add { keys: args, .. } => {
            let kek = KeyEncryption::from_args(&args)?;
            let id = admin::add(keys, kek.as_ref()).await?;
            audit::record(audit::OPERATOR, "signing_key.add", None, "ok");
            println!(
                "added handle-signing key {id} (verify-only); promote it with `baton keys promote {id}` once every instance has reloaded (--key-reload-interval)"
            );
        }
        KeysAction::Promote { id, .. } => {
            admin::promote(keys, id).await?;
            audit::record(audit::OPERATOR, "signing_key.promote", None, "ok");
            println!("key {id} signs new handles on every instance within --key-reload-interval");
        }
        KeysAction::Retire { id, .. } => {
            admin::retire(keys, id).await?;
            audit::record(audit::OPERATOR, "signing_key.retire", None, "ok");
            println!(
                "retired key {id}: handles signed with it stop working on every instance within --key-reload-interval"
            );
        }
        KeysAction::Rotate { keys: args, .. } => {
            let kek = KeyEncryption::from_args(&args)?;
            let id = admin::add(keys, kek.as_ref()).await?;
            admin::promote(keys, id).await?;
            audit::record(audit::OPERATOR, "signing_key.rotate", None, "ok");
            println!(
                "added handle-signing key {id} and made it the signer; running instances sign with it within --key-reload-interval"
            );
        }
        KeysAction::Encrypt { keys: args, .. } => {
            let kek = KeyEncryption::from_args(&args)?.context(
                "give the key-encryption key: --key-encryption-key-file or BATON_KEY_ENCRYPTION_KEY",
            )?;
            let sealed = admin::encrypt(keys, &kek).await?;
            audit::record(audit::OPERATOR, "signing_key.encrypt", None, "ok");
            println!("sealed {sealed} handle-signing key(s)");
        }
    }
    Ok(())
}

async fn token(action: TokenAction) -> anyhow::Result<()> {
    let database = match &action {
        TokenAction::Create { database, .. }
        | TokenAction::List { database }
        | TokenAction::Revoke { database, .. } => database,
    };
    let stores = store::open(database, baton_store::Lifetimes::default(), false).await?;
    let now = chrono::Utc::now();
    match action {
        TokenAction::Create {
            principal,
            scopes,
            expires,
            ..
        } => {
            let scopes: baton_auth::Scopes = if scopes.is_empty() {
                baton_auth::Scopes::all()
            } else {
                scopes
                    .join(" ")
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--scope: {e}"))?
            };
            let expires_at = match expires {
                None => None,
                Some(d) => Some(
                    chrono::Duration::from_std(d)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d))
                        .context("--expires is too far in the future")?,
                ),
            };
            let key = baton_auth::NewApiKey::generate();
            let record = baton_auth::ApiKeyRecord::new(&key, &principal, scopes, now, expires_at)
                .map_err(|e| anyhow::anyhow!("--principal: {e}"))?;
            stores
                .keys
                .insert_api_key(baton_store::StoredApiKey {
                    id: record.id.as_str().to_owned(),
                    principal: record.principal.clone(),
                    scopes: record.scopes.to_string(),
                    hash: record.hash.as_bytes().to_vec(),
                    created_at: record.created_at,
                    expires_at: record.expires_at,
                    revoked_at: None,
                })
                .await?;
            audit::record(audit::OPERATOR, "api_key.create", None, "ok");
            println!("{}", key.reveal());
            eprintln!(
                "created API key {} for principal key:{} with scopes \"{}\", {}; the key above is \
                 shown only now",
                record.id.as_str(),
                record.principal,
                record.scopes,
                expires_at.map_or("never expires".to_owned(), |t| format!(
                    "expires {}",
                    t.to_rfc3339()
                ))
            );
        }
        TokenAction::List { .. } => {
            println!("ID\tPRINCIPAL\tSCOPES\tCREATED\tEXPIRES\tSTATE");
            for key in stores.keys.api_keys().await? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else if key.expires_at.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\tkey:{}\t{}\t{}\t{}\t{state}",
                    key.id,
                    key.principal,
                    key.scopes,
                    key.created_at.to_rfc3339(),
                    key.expires_at
                        .map_or("never".to_owned(), |t| t.to_rfc3339()),
                );
            }
        }
        TokenAction::Revoke { id, .. } => {
            // Accept the id alone, or a whole key (its id is the part after `baton_`).
            let id = id.strip_prefix("baton_").unwrap_or(&id);
            let id = id.split('_').next().unwrap_or(id).to_owned();
            let revoked = stores.keys.revoke_api_key(&id, now).await?;
            let outcome = if revoked.is_some() { "ok" } else { "not_found" };
            audit::record(audit::OPERATOR, "api_key.revoke", None, outcome);
            match revoked {
                Some(key) => println!(
                    "revoked API key {} (principal key:{}); instances refuse it within their \
                     --api-key-cache-ttl (5s by default)",
                    key.id, key.principal
                ),
                None => anyhow::bail!("no API key has the id {id}"),
            }
        }
    }
    Ok(())
}

async fn migrate(database: &DatabaseArgs, check: bool) -> anyhow::Result<()> {
    let url = &database.database_url;
    let pending = match store::Backend::of(url)? {
        store::Backend::Sqlite => baton_store_sqlite::pending_migrations(url).await?,
        store::Backend::Postgres => baton_store_postgres::pending_migrations(url).await?,
        // Redis has no schema: nothing to migrate.
        store::Backend::Redis => Vec::new(),
    };
    if check {
        if pending.is_empty() {
            println!("no pending migrations");
            return Ok(());
        }
        for (version, description) in &pending {
            println!("pending: {version} {description}");
        }
        std::process::exit(1);
    }
    match store::Backend::of(url)? {
        store::Backend::Sqlite => baton_store_sqlite::migrate(url).await?,
        store::Backend::Postgres => baton_store_postgres::migrate(url).await?,
        store::Backend::Redis => {}
    }
    println!("applied {} migration(s)", pending.len());
    Ok(())
}
