//! A recording proxy on 127.0.0.1 between the SDK and the emulator: it keeps
//! every DynamoDB request (operation, body, answer, and the caller's user
//! agent, which names the function through the SDK's app name). The cost
//! bench prices the requests; the IAM test checks each function's against
//! its policy in the template.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug, Clone)]
pub struct Record {
    /// `GetItem`, `TransactWriteItems`…
    pub op: String,
    pub request: Value,
    pub response: Value,
    /// The `x-amz-user-agent` (or `user-agent`) header.
    pub agent: String,
}

impl Record {
    /// The function that made the request (`app/<name>` in the user agent),
    /// if the SDK was given an app name.
    pub fn app(&self) -> Option<&str> {
        self.agent
            .split_whitespace()
            .find_map(|part| part.strip_prefix("app/"))
    }
}

pub type Records = Arc<Mutex<Vec<Record>>>;

/// A DynamoDB failure to inject: of the calls to `op`, the first `pass` go
/// through, the next `fail` are answered with a throttling error (enough
/// of them and the SDK's own retries give up, as under a real throttle), the
/// rest go through again.
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: String,
    pub pass: usize,
    pub fail: usize,
}

/// The faults a proxy injects, shared with the test that arms them.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Vec<(Fault, usize)>>>);

impl Faults {
    pub fn arm(&self, fault: Fault) {
        self.0.lock().expect("faults").push((fault, 0));
    }

    /// Whether this call of `op` is to fail (and counts it).
    fn strikes(&self, op: &str) -> bool {
        let mut all = self.0.lock().expect("faults");
        all.iter_mut().filter(|(f, _)| f.op == op).any(|(f, seen)| {
            *seen += 1;
            *seen > f.pass && *seen <= f.pass + f.fail
        })
    }
}

/// Starts the proxy; requests go to `upstream` once it is set (the emulator
/// starts after the proxy's address is known).
pub async fn start(records: Records, upstream: Arc<OnceLock<String>>) -> String {
    start_with_faults(records, upstream, Faults::default()).await
}

/// As `start`, injecting `faults`.
pub async fn start_with_faults(
    records: Records,
    upstream: Arc<OnceLock<String>>,
    faults: Faults,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (client, records, upstream, faults) = (
                client.clone(),
                records.clone(),
                upstream.clone(),
                faults.clone(),
            );
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (client, records, upstream, faults) = (
                            client.clone(),
                            records.clone(),
                            upstream.clone(),
                            faults.clone(),
                        );
                        async move { forward(req, &client, &records, &upstream, &faults).await }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

async fn forward(
    req: hyper::Request<hyper::body::Incoming>,
    client: &reqwest::Client,
    records: &Records,
    upstream: &OnceLock<String>,
    faults: &Faults,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let target = header("x-amz-target");
    let agent = format!("{} {}", header("x-amz-user-agent"), header("user-agent"));
    if let Some(op) = target.strip_prefix("DynamoDB_20120810.")
        && faults.strikes(op)
    {
        let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected by the test proxy"}"#;
        return Ok(hyper::Response::builder()
            .status(400)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from_static(throttled.as_bytes())))
            .expect("a response"));
    }
    let url = format!(
        "{}{}",
        upstream.get().expect("upstream set"),
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = client.request(parts.method.clone(), url).body(body.clone());
    for (k, v) in &parts.headers {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    let resp = out.send().await.expect("the emulator answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let answer = resp.bytes().await.unwrap_or_default();
    if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
        records.lock().expect("records").push(Record {
            op: op.to_string(),
            request: serde_json::from_slice(&body).unwrap_or(Value::Null),
            response: serde_json::from_slice(&answer).unwrap_or(Value::Null),
            agent,
        });
    }
    let mut r = hyper::Response::builder().status(status);
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" {
            r = r.header(k, v);
        }
    }
    Ok(r.body(Full::new(Bytes::from(answer.to_vec())))
        .expect("a response"))
}
