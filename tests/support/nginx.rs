//! nginx in front of baton instances, configured from the shipped `deploy/nginx/baton.conf`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use baton_devtools::ChildGuard;

use super::{
    ci,
    http::{free_port, http_get},
    wait::POLL,
};

/// How long nginx may take to answer through to an instance.
const START_WITHIN: Duration = Duration::from_secs(30);

/// The nginx binary (`$BATON_NGINX`, `/usr/sbin/nginx`, or on `PATH`), or a skip of the
/// current test (see [`ci::skip`]).
pub fn available() -> Option<PathBuf> {
    find().or_else(|| {
        ci::skip(
            "nginx not found (looked at $BATON_NGINX, /usr/sbin/nginx and PATH)\n\
             Install it with `apt-get install -y nginx` (.ci/run does).",
        )
    })
}

fn find() -> Option<PathBuf> {
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

/// The shipped nginx template, `deploy/nginx/baton.conf`.
pub fn template_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/baton.conf")
}

/// Renders the shipped template the way `envsubst '${BATON_LISTEN} ${BATON_UPSTREAM_SERVERS}'`
/// does.
pub fn render_template(template: &str, listen: &str, upstreams: &[u16]) -> String {
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
    process: ChildGuard,
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
        let template = std::fs::read_to_string(template_path())
            .map_err(|e| format!("cannot read deploy/nginx/baton.conf: {e}"))?;
        let site = render_template(&template, &format!("127.0.0.1:{port}"), upstreams);
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
        let mut process = ChildGuard::spawn(
            Command::new(binary)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf)
                .args(["-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .map_err(|e| e.to_string())?;
        let error_log =
            || std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!("nginx exited with {status}:\n{}", error_log()));
            }
            if http_get(port, "/healthz").is_ok_and(|(status, _)| status == 200) {
                return Ok(Nginx { process, port, dir });
            }
            if Instant::now() > deadline {
                process.stop(Duration::from_secs(10));
                return Err(format!(
                    "nginx did not answer /healthz within {START_WITHIN:?}:\n{}",
                    error_log()
                ));
            }
            std::thread::sleep(POLL);
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
        // SIGTERM: the master stops its workers; SIGKILL (the guard's) would orphan them.
        self.process.stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_template_renders() {
        let template = std::fs::read_to_string(template_path()).unwrap();
        // Each placeholder appears once, where it belongs (not in a comment, which envsubst
        // would rewrite too).
        assert_eq!(template.matches("${BATON_LISTEN}").count(), 1);
        assert_eq!(template.matches("${BATON_UPSTREAM_SERVERS}").count(), 1);
        let site = render_template(&template, "127.0.0.1:1", &[2, 3]);
        assert!(site.contains("listen 127.0.0.1:1;"));
        assert!(site.contains("server 127.0.0.1:2 max_fails=1 fail_timeout=2s;"));
        assert!(site.contains("proxy_next_upstream error timeout;"));
        assert!(!site.contains("non_idempotent;"));
    }
}
