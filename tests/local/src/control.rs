//! The dev runner's control endpoint on loopback: `POST /tick?now=<RFC 3339>`
//! runs one schedule tick and answers when all it caused has finished;
//! `GET /health` answers when the runner is up. Between requests the runner
//! keeps delivering stream records, as Lambda's event source mappings do.

use crate::runner::{Invoker, Runner};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

pub async fn serve<I: Invoker + 'static>(
    addr: &str,
    runner: Runner<I>,
    realtime: bool,
) -> Result<()> {
    let listener = TcpListener::bind(addr).await?;
    let runner = Arc::new(Mutex::new(runner));
    {
        let runner = runner.clone();
        tokio::spawn(async move {
            let mut last_tick = jiff::Timestamp::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let mut r = runner.lock().await;
                if let Err(e) = r.drain().await {
                    eprintln!("runner: {e:#}");
                }
                // Wall-clock ticking only when asked for: this is the dev
                // tool standing in for EventBridge, not the engine.
                if realtime && jiff::Timestamp::now().as_second() / 60 != last_tick.as_second() / 60
                {
                    last_tick = jiff::Timestamp::now();
                    if let Err(e) = r.tick(last_tick).await {
                        eprintln!("runner: tick: {e:#}");
                    }
                }
            }
        });
    }
    loop {
        let (mut socket, _) = listener.accept().await?;
        let runner = runner.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]);
            let line = head.lines().next().unwrap_or_default().to_string();
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let (status, body) = match (method, path) {
                ("GET", "/health") => (200, "{\"status\":\"ready\"}".to_string()),
                ("POST", "/tick") => {
                    let now = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("now="))
                        .map(|v| {
                            v.replace("%3A", ":")
                                .replace("%3a", ":")
                                .replace("%2B", "+")
                        });
                    match now.as_deref().map(str::parse::<jiff::Timestamp>) {
                        Some(Ok(now)) => match runner.lock().await.tick(now).await {
                            Ok(summary) => (200, serde_json::to_string(&summary).unwrap_or_default()),
                            Err(e) => (500, serde_json::json!({"error": format!("{e:#}")}).to_string()),
                        },
                        _ => (
                            400,
                            "{\"error\":\"give now=<RFC 3339 instant>, e.g. now=2026-11-23T11:01:00Z\"}".to_string(),
                        ),
                    }
                }
                _ => (404, "{\"error\":\"no such route\"}".to_string()),
            };
            let reply = format!(
                "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                if status == 200 { "OK" } else { "Error" },
                body.len()
            );
            let _ = socket.write_all(reply.as_bytes()).await;
        });
    }
}
