//! A fleet: several real `baton` processes on one fresh Postgres database (or on a Redis key
//! prefix, [`Fleet::start_on_redis`]), optionally behind
//! a real nginx (rendered from `deploy/nginx/baton.conf`) and optionally reaching Postgres
//! through a [`DbProxy`] that can cut them off.
//!
//! Prerequisites: `psql` and a reachable Postgres (see [`postgres`]), and nginx when asked
//! for (see [`nginx::available`]). A missing one fails the test under CI and skips it
//! (with a `BATON-SKIP:` line) elsewhere. Everything listens on and connects to 127.0.0.1.

use super::{
    ci,
    db_proxy::DbProxy,
    nginx::{self, Nginx},
    postgres::{self, TestDatabase},
    redis::RedisDatabase,
    server::Server,
};

/// Where a fleet keeps its data.
pub enum FleetStore {
    /// A fresh Postgres database.
    Postgres(TestDatabase),
    /// A key prefix on Redis (a single server or a cluster).
    Redis(RedisDatabase),
}

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
    /// The database (declared last: dropped after the instances).
    pub store: FleetStore,
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
    ///
    /// Returns `None` when Postgres (or nginx, if asked for) is missing and the test is
    /// skipped: see [`ci::skip`].
    pub fn start(options: FleetOptions<'_>) -> Option<Fleet> {
        let admin_url = baton_devtools::test_postgres_url();
        if let Err(e) = postgres::check_reachable(&admin_url) {
            return ci::skip(&e);
        }
        let nginx_bin = if options.nginx {
            Some(nginx::available()?)
        } else {
            None
        };
        let db = TestDatabase::create(&admin_url);
        let proxy = options.proxy.then(|| DbProxy::start(&admin_url));
        let url = db.url(proxy.as_ref().map(|p| p.port));
        Some(Self::start_on(
            FleetStore::Postgres(db),
            &url,
            proxy,
            nginx_bin,
            &options,
        ))
    }

    /// Starts the instances on `store` (Redis), then nginx. `options.proxy` is not
    /// supported there (the restart test stops Redis itself).
    ///
    /// Returns `None` when nginx, if asked for, is missing and the test is skipped.
    pub fn start_on_redis(store: RedisDatabase, options: FleetOptions<'_>) -> Option<Fleet> {
        assert!(!options.proxy, "no database proxy in front of Redis");
        let nginx_bin = if options.nginx {
            Some(nginx::available()?)
        } else {
            None
        };
        let url = store.url.clone();
        Some(Self::start_on(
            FleetStore::Redis(store),
            &url,
            None,
            nginx_bin,
            &options,
        ))
    }

    fn start_on(
        store: FleetStore,
        url: &str,
        proxy: Option<DbProxy>,
        nginx_bin: Option<std::path::PathBuf>,
        options: &FleetOptions<'_>,
    ) -> Fleet {
        let mut args = vec!["--database-url", url, "--migrate"];
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
        let nginx = nginx_bin.map(|binary| {
            let ports: Vec<u16> = instances.iter().flatten().map(|s| s.addr.port()).collect();
            Nginx::start(&binary, &ports)
        });
        Fleet {
            nginx,
            instances,
            proxy,
            store,
        }
    }

    /// The Postgres database (panics on a Redis fleet).
    pub fn db(&self) -> &TestDatabase {
        match &self.store {
            FleetStore::Postgres(db) => db,
            FleetStore::Redis(_) => panic!("this fleet runs on Redis"),
        }
    }

    /// The Redis keys (panics on a Postgres fleet).
    pub fn redis(&self) -> &RedisDatabase {
        match &self.store {
            FleetStore::Redis(r) => r,
            FleetStore::Postgres(_) => panic!("this fleet runs on Postgres"),
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
