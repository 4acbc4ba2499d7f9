//! `make bench`: for every function, the stripped release binary's size and
//! its init time (process start → first poll of the Lambda Runtime API, against
//! a local stub of that API on loopback; median of several runs), beside a
//! hello-world `lambda_runtime` binary built with the same profile in the
//! same run, and the ratio.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const FUNCTIONS: [&str; 6] = [
    "ingest",
    "process",
    "timer",
    "dispatch",
    "preferences",
    "feedback",
];
const RUNS: usize = 21;

/// Starts `bin` against a stub Runtime API and returns the time until it
/// asks for its first invocation.
async fn init_time(bin: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let start = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("TABLE_NAME", "bench")
        .env("SHOPIFY_WEBHOOK_SECRET", "bench-secret")
        .env("SENDER_EMAIL", "store@example.com")
        .env("UNSUBSCRIBE_SECRET", "bench-unsubscribe-secret")
        .env("COUPON_SECRET", "bench-coupon-secret")
        // Else dispatch asks SES for the account's sending quota at init: a
        // round trip in AWS, retries against nothing here.
        .env("SES_MAX_SEND_RATE", "14")
        .env(
            "PREFERENCES_URL",
            "http://127.0.0.1:9/lambda-url/preferences",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .unwrap_or_else(|_| panic!("{bin} never polled the Runtime API"))
        .expect("accept");
    let mut buf = [0u8; 1024];
    let n = socket.read(&mut buf).await.unwrap_or(0);
    let elapsed = start.elapsed();
    assert!(
        String::from_utf8_lossy(&buf[..n]).contains("/runtime/invocation/next"),
        "{bin}: unexpected first request"
    );
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| format!("{}/../../target", env!("CARGO_MANIFEST_DIR")));
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "waymark-bench",
        "--bin",
        "hello-lambda",
    ]);
    for f in FUNCTIONS {
        build.args(["-p", f, "--bin", f]);
    }
    let status = build.status().expect("running cargo build");
    assert!(status.success(), "release build failed");

    let mut rows = Vec::new();
    for name in std::iter::once("hello-lambda").chain(FUNCTIONS) {
        let bin = format!("{target}/release/{name}");
        let size = std::fs::metadata(&bin).expect("binary exists").len();
        let _ = init_time(&bin).await; // warm the page cache
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            times.push(init_time(&bin).await);
        }
        rows.push((name, size, median(times)));
    }
    let (_, base_size, base_init) = rows[0];
    println!(
        "release profile: opt-level=s, lto=fat, codegen-units=1, strip=symbols; init = start → first /next poll, median of {RUNS}"
    );
    println!(
        "{:<14} {:>10} {:>8} {:>11} {:>8}",
        "binary", "size KiB", "× hello", "init ms", "× hello"
    );
    for (name, size, init) in rows {
        println!(
            "{:<14} {:>10.0} {:>8.2} {:>11.2} {:>8.2}",
            name,
            size as f64 / 1024.0,
            size as f64 / base_size as f64,
            init.as_secs_f64() * 1e3,
            init.as_secs_f64() / base_init.as_secs_f64()
        );
    }
}
