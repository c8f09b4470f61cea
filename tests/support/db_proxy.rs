//! A TCP proxy on 127.0.0.1 in front of Postgres that can cut every connection, as a
//! database outage would.

use std::{
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use baton_devtools::PostgresAddress;

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
        let target = PostgresAddress::parse(admin_url)
            .unwrap_or_else(|e| panic!("the database proxy's target: {e}"))
            .to_string();
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
