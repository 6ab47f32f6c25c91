//! Running the binary: one-shot commands and a server process whose log is
//! captured.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn keyward(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KEYWARD_DATA_DIR", data_dir);
    command
}

pub fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `keyward org create --json`, parsed.
pub fn create_org(data_dir: &Path, name: &str, password: Option<&str>) -> Value {
    let mut command = keyward(data_dir);
    command.args([
        "org",
        "create",
        "--name",
        name,
        "--owner-email",
        "owner@example.com",
        "--json",
    ]);
    if let Some(password) = password {
        command.env("KEYWARD_OWNER_PASSWORD", password);
    }
    serde_json::from_slice(&run(&mut command).stdout).unwrap()
}

/// A running `keyward serve` and everything it has logged so far.
pub struct Server {
    child: Child,
    pub base: String,
    pub log: Arc<Mutex<String>>,
    /// The threads copying stdout and stderr into `log`; they end at EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `keyward serve` on a free port with JSON logs at debug level.
    pub fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra_args, &[])
    }

    /// Like [`Server::start`], with more environment variables.
    pub fn start_with_env(data_dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = keyward(data_dir);
        command.envs(env.iter().copied());
        Self::start_command(command, extra_args)
    }

    /// Runs `keyward serve` through `command`, which runs the binary or
    /// something that `exec`s it with the arguments that follow.
    pub fn start_command(mut command: Command, extra_args: &[&str]) -> Self {
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0"])
            .args(extra_args)
            .env("KEYWARD_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let readers = [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ]
        .into_iter()
        .map(|stream| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        })
        .collect();
        let started = Instant::now();
        let addr = loop {
            let found = log.lock().unwrap().lines().find_map(|line| {
                let value: Value = serde_json::from_str(line).ok()?;
                (value["message"] == "keyward listening")
                    .then(|| value["addr"].as_str().unwrap().to_owned())
            });
            if let Some(addr) = found {
                break addr;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server did not start:\n{}",
                log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            base: format!("http://{addr}"),
            log,
            readers,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(
            exit.success(),
            "exit {exit:?}:\n{}",
            self.log.lock().unwrap()
        );
        // Every line logged before the exit is read.
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// POSTs `body` as JSON to the server at `base` (with `root_key` as the
/// bearer, when given) and returns the answer's JSON.
pub async fn post_json(base: &str, path: &str, root_key: Option<&str>, body: &Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(body);
    if let Some(root_key) = root_key {
        request = request.bearer_auth(root_key);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// Polls `check` until it holds; fails after 30 s, which only a broken
/// feature takes on however slow a machine.
pub async fn eventually(mut check: impl AsyncFnMut() -> bool, what: &str) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not happen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
