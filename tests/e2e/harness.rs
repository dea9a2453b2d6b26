//! Starts `gatehouse` processes on port 0 in temporary data dirs, learns their
//! addresses from their JSON log, kills them on drop and prints their log when the
//! test that owned them failed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a server may take to report its listeners. Generous: this is a liveness
/// bound for a loaded CI machine, not a performance assertion.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Path of the `gatehouse` binary built by `cargo build -p gatehouse-server`.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GATEHOUSE_BIN_UNDER_TEST") {
        return PathBuf::from(path);
    }
    // target/debug/deps/e2e-<hash> → target/debug/gatehouse
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("gatehouse");
    assert!(
        path.exists(),
        "{} missing: build it with `cargo build -p gatehouse-server` (tests/run does)",
        path.display()
    );
    path
}

/// A command for the binary with a clean slate of `GATEHOUSE_*` variables.
pub fn command() -> Command {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GATEHOUSE_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A child process whose output is kept; killed on drop, its output printed when
/// the test that owned it failed.
struct Process {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    what: &'static str,
}

impl Process {
    /// Spawns `cmd` and waits for the JSON log line whose message is `ready`.
    fn spawn(cmd: Command, ready: &'static str, what: &'static str) -> (Process, Value) {
        let (child, log, found) = spawn_until(cmd, ready, what);
        (Process { child, log, what }, found)
    }

    /// Sends SIGTERM and waits for the process to exit.
    fn stop(&mut self) -> ExitStatus {
        terminate(&mut self.child, &self.log)
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- {} log ----\n{}", self.what, self.log_text());
        }
    }
}

/// A running `gatehouse server`.
pub struct Server {
    process: Process,
    /// Address of the HTTP listener.
    pub http: SocketAddr,
    /// Address of the HTTPS listener.
    pub https: SocketAddr,
    /// Address of the metrics listener.
    pub metrics: SocketAddr,
    /// The `listening` log line, for figures such as `startup_ms`.
    pub listening: Value,
}

impl Server {
    /// Starts a server with `data_dir` and extra environment, every listener on an
    /// ephemeral loopback port, and waits until it reports its addresses.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_on(data_dir, "127.0.0.1:0", env)
    }

    /// [`Server::start`] with the HTTP listener on `http` (to come back on the same
    /// port after a restart).
    pub fn start_on(data_dir: &Path, http: &str, env: &[(&str, &str)]) -> Server {
        let mut cmd = command();
        cmd.arg("server")
            .env("GATEHOUSE_DATA_DIR", data_dir)
            // Not the working directory's ./blueprints: a test opts in to a folder.
            .env("GATEHOUSE_BLUEPRINTS_DIR", data_dir.join("blueprints"))
            .env("GATEHOUSE_LOG_FORMAT", "json")
            .env("GATEHOUSE_LISTEN__HTTP", http)
            .env("GATEHOUSE_LISTEN__HTTPS", "127.0.0.1:0")
            .env("GATEHOUSE_LISTEN__METRICS", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (process, listening) = Process::spawn(cmd, "listening", "gatehouse server");
        let addr = |key: &str| listening[key].as_str().unwrap().parse().unwrap();
        Server {
            http: addr("http"),
            https: addr("https"),
            metrics: addr("metrics"),
            listening,
            process,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.process.stop()
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// Spawns `cmd`, collects its output lines and waits for the JSON log line whose
/// message is `ready`, which it returns.
fn spawn_until(
    mut cmd: Command,
    ready: &'static str,
    what: &str,
) -> (Child, Arc<Mutex<Vec<String>>>, Value) {
    let mut child = cmd.spawn().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let log = log.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(json) = serde_json::from_str::<Value>(&line)
                    && json["message"] == ready
                {
                    let _ = tx.send(json);
                }
                log.lock().unwrap().push(line);
            }
        });
    }
    let deadline = Instant::now() + START_TIMEOUT;
    let found = loop {
        if let Ok(json) = rx.recv_timeout(Duration::from_millis(100)) {
            break json;
        }
        if let Some(status) = child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "{what} exited with {status} before listening:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{what} did not listen within {START_TIMEOUT:?}:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
    };
    (child, log, found)
}

/// Sends SIGTERM to `child` and waits for it to exit.
fn terminate(child: &mut Child, log: &Mutex<Vec<String>>) -> ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM failed");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not stop after SIGTERM:\n{}",
            log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `gatehouse outpost`.
pub struct Outpost {
    process: Process,
    /// Address of its HTTP listener.
    pub http: SocketAddr,
    /// Address of its HTTPS listener.
    pub https: SocketAddr,
    /// Address of its metrics listener.
    pub metrics: SocketAddr,
}

impl Outpost {
    /// Starts an outpost with `data_dir` against the core at `core` (a URL) with
    /// `token`, listening on an ephemeral loopback port.
    pub fn start(data_dir: &Path, core: &str, token: &str) -> Outpost {
        let mut cmd = command();
        cmd.arg("outpost")
            .env("GATEHOUSE_HOST", core)
            .env("GATEHOUSE_TOKEN", token)
            .env("GATEHOUSE_DATA_DIR", data_dir)
            .env("GATEHOUSE_LOG_FORMAT", "json")
            .env("GATEHOUSE_LOG_LEVEL", "debug")
            .env("GATEHOUSE_LISTEN__HTTP", "127.0.0.1:0")
            .env("GATEHOUSE_LISTEN__METRICS", "127.0.0.1:0")
            .env("GATEHOUSE_LISTEN__HTTPS", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (process, listening) = Process::spawn(cmd, "outpost listening", "gatehouse outpost");
        Outpost {
            http: listening["http"].as_str().unwrap().parse().unwrap(),
            https: listening["https"].as_str().unwrap().parse().unwrap(),
            metrics: listening["metrics"].as_str().unwrap().parse().unwrap(),
            process,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        self.process.stop()
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// A fresh, empty database on the test PostgreSQL (from `GH_TEST_POSTGRES_URL`,
/// which tests/run sets), as a URL for `GATEHOUSE_DATABASE__URL`.
pub async fn fresh_postgres_database() -> String {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let admin = std::env::var("GH_TEST_POSTGRES_URL")
        .expect("GH_TEST_POSTGRES_URL is not set: run the suite with tests/run");
    let name = format!("gh_e2e_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .unwrap()
        .connect()
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// An HTTP client that trusts exactly the certificate in `cert_pem`.
pub fn client_trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
