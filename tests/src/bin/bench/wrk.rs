//! Driving wrk (Debian package `wrk`), the load generator of `--ingress` and `--orders`, and the
//! servers it loads: the real `api` binary and the `thin-ingress` baseline, each its own process
//! built beside the bench (`cargo build --release --bins`).
//!
//! wrk is nobody's code here: its figures are not the bench's own bookkeeping. Each request gets
//! a new key from a Lua script: `{key}` in the body template becomes `<run>-<thread>-<counter>`,
//! `{member}` the counter modulo `members`.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// What one wrk run reported.
pub struct Report {
    pub requests_per_second: f64,
    /// Requests answered 2xx or 3xx (wrk counts everything else as "Non-2xx or 3xx").
    pub succeeded: u64,
    pub non_2xx: u64,
    pub socket_errors: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>8.0} req/s  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            self.requests_per_second, self.p50_ms, self.p99_ms, self.max_ms
        )?;
        if self.non_2xx > 0 {
            write!(f, "  ({} answers not 2xx)", self.non_2xx)?;
        }
        if let Some(errors) = &self.socket_errors {
            write!(f, "  ({errors})")?;
        }
        Ok(())
    }
}

/// One load: `wrk -t2 -c<connections> -d<seconds>s --latency` POSTing `template` to `url`.
pub async fn post(
    url: &str,
    headers: &[(&str, &str)],
    template: &str,
    members: usize,
    connections: usize,
    seconds: u64,
) -> Report {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let script = std::env::temp_dir().join(format!("bench-{run}.lua"));
    let header_lines: String = headers
        .iter()
        .map(|(name, value)| format!("wrk.headers[{}] = {}\n", lua_string(name), lua_string(value)))
        .collect();
    // setup() runs in the main Lua state once per thread and numbers them; init() runs in each
    // thread's own state, where `id` is that number: keys differ across threads and runs.
    let lua = format!(
        r#"wrk.method = "POST"
{header_lines}local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
local template = {template}
local prefix = "{short}-"
function init(args)
  prefix = prefix .. id .. "-"
end
function request()
  counter = counter + 1
  local body = template:gsub("{{key}}", prefix .. counter):gsub("{{member}}", tostring(counter % {members}))
  return wrk.format(nil, nil, nil, body)
end
"#,
        template = lua_string(template),
        short = &run[run.len() - 10..],
        members = members.max(1),
    );
    std::fs::write(&script, lua).expect("the Lua script");
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "--timeout", "10s", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .await
        .unwrap_or_else(|e| panic!("wrk did not run ({e}): install it (apt-get install wrk)"));
    std::fs::remove_file(&script).ok();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    parse(&text).unwrap_or_else(|| panic!("unexpected wrk output:\n{text}"))
}

fn lua_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Reads wrk's summary: `Requests/sec:`, the latency distribution (`--latency`), the request
/// count and the non-2xx count.
fn parse(text: &str) -> Option<Report> {
    let mut report = Report {
        requests_per_second: 0.0,
        succeeded: 0,
        non_2xx: 0,
        socket_errors: None,
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
    };
    let mut requests = None;
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", rate] => report.requests_per_second = rate.parse().ok()?,
            ["50%", t] => report.p50_ms = millis(t)?,
            ["99%", t] => report.p99_ms = millis(t)?,
            ["Latency", _avg, _stdev, max, ..] => report.max_ms = millis(max)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => report.non_2xx = n.parse().ok()?,
            [n, "requests", "in", ..] => requests = n.parse::<u64>().ok(),
            ["Socket", "errors:", ..] => report.socket_errors = Some(line.to_string()),
            _ => {}
        }
    }
    report.succeeded = requests?.saturating_sub(report.non_2xx);
    (report.requests_per_second > 0.0).then_some(report)
}

/// wrk's durations: `812.00us`, `4.80ms`, `1.02s`, `2.00m`.
fn millis(t: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = t.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (t.strip_suffix('m')?, 60_000.0)
    };
    Some(number.parse::<f64>().ok()? * factor)
}

/// A binary built beside the bench's own (`target/release/<name>`).
pub fn sibling(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's path");
    let path = exe.with_file_name(name);
    assert!(path.exists(), "{} is missing: build every binary first: cargo build --release --bins", path.display());
    path
}

/// A free local port (bound and released: the server binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a local port").local_addr().expect("bound").port()
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
}

impl Server {
    /// Starts `command` and waits (up to a minute) until `ready` answers 200.
    pub async fn start(mut command: Command, ready: &str) -> Server {
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().expect("the server starts");
        // Keep the pipes drained so a chatty server never blocks on a full pipe; show errors.
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.contains("\"ERROR\"") || line.contains("panicked") {
                        eprintln!("server: {line}");
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if get_ok(ready).await {
                return Server { child };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "the server did not answer {ready} within a minute");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The CPU the server's process has used so far (all its threads).
    pub fn cpu(&self) -> Duration {
        self.child.id().and_then(|pid| crate::cpu::cpu_of(&pid.to_string())).unwrap_or_default()
    }

    pub async fn stop(mut self) {
        self.child.kill().await.ok();
    }

    /// Sends SIGTERM (what `docker compose stop` and Kubernetes send) and waits for the exit;
    /// a process still running after `grace` is killed and fails the bench.
    pub async fn terminate(mut self, grace: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().expect("the server runs").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill(1)");
        assert!(sent.success(), "SIGTERM could not be sent to {pid}");
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.expect("the exit status"),
            Err(_) => {
                self.child.kill().await.ok();
                panic!("process {pid} did not exit within {grace:?} of SIGTERM");
            }
        }
    }
}

/// `GET` over a fresh connection: 200 or not.
async fn get_ok(url: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = tokio::net::TcpStream::connect(host).await else { return false };
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    answer.starts_with(b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_summary() {
        let text = "Running 15s test @ http://127.0.0.1:1/events
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    2.01ms   1.20s    80.00%
    Req/Sec     6.30k   500.00     7.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    6.00ms
     90%    7.50ms
     99%   12.70ms
  188000 requests in 15.00s, 15.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:  12530.00
Transfer/sec:      1.00MB
";
        let r = parse(text).expect("parsed");
        assert_eq!(r.requests_per_second, 12530.0);
        assert_eq!((r.succeeded, r.non_2xx), (187_988, 12));
        assert_eq!((r.p50_ms, r.p99_ms, r.max_ms), (0.812, 12.7, 1200.0));
    }
}
