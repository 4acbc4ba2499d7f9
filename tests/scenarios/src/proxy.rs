//! A recording proxy on 127.0.0.1 between the SDK and the emulator: it keeps
//! every DynamoDB request (operation, body, answer, and the caller's user
//! agent, which names the function through the SDK's app name). The cost
//! bench prices the requests; the IAM test checks each function's against
//! its policy in the template. It also injects faults: a chosen call of an
//! operation throttled, or any one call (by its position among all the
//! functions' calls) throttled, failed with a 5xx, or carried out with its
//! answer lost — what a crash right after the call looks like to the rest
//! of the system.

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

/// What a struck call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Throttled (DynamoDB's `ProvisionedThroughputExceededException`,
    /// SES's `TooManyRequestsException`), never reaching the service.
    Throttle,
    /// A 500 from the service, which did nothing.
    ServerError,
    /// The service did it, and the answer was lost (a 500 instead): to the
    /// caller and everything after it, a crash right after the call.
    LostAnswer,
}

/// Calls the SDK makes for one call before it gives up: a struck call
/// fails this many attempts in a row, so the caller sees the failure.
const ATTEMPTS: usize = 3;

#[derive(Debug, Default)]
struct State {
    by_op: Vec<(Fault, usize)>,
    /// Every function call so far (stream reads are the platform's, and
    /// not counted), by operation.
    calls: Vec<String>,
    /// The call to strike (1-based position) and how.
    at: Option<(usize, Kind)>,
    /// The struck operation and the attempts still to fail.
    striking: Option<(String, Kind, usize)>,
    /// What was struck: (position, operation, kind).
    struck: Vec<(usize, String, Kind)>,
}

/// The faults a proxy injects, shared with the test that arms them.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    pub fn arm(&self, fault: Fault) {
        self.0.lock().expect("faults").by_op.push((fault, 0));
    }

    /// Strikes the `position`-th call (1-based) from now on, whatever its
    /// operation, and the SDK's retries of it.
    pub fn arm_at(&self, position: usize, kind: Kind) {
        let mut state = self.0.lock().expect("faults");
        state.at = Some((state.calls.len() + position, kind));
    }

    /// The operations called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.0.lock().expect("faults").calls.clone()
    }

    /// What was struck: (position, operation, kind).
    pub fn struck(&self) -> Vec<(usize, String, Kind)> {
        self.0.lock().expect("faults").struck.clone()
    }

    /// Whether this call of `op` is to fail, and how (and counts it).
    /// `retry`: the SDK says this is a second or later attempt of a call.
    fn strikes(&self, op: &str, retry: bool) -> Option<Kind> {
        let mut state = self.0.lock().expect("faults");
        state.calls.push(op.to_string());
        let position = state.calls.len();
        if retry
            && let Some((struck_op, kind, left)) = &mut state.striking
            && struck_op == op
            && *left > 0
        {
            *left -= 1;
            // The SDK's retry of a lost answer: the first attempt did it.
            return Some(match *kind {
                Kind::LostAnswer => Kind::ServerError,
                other => other,
            });
        }
        if let Some((at, kind)) = state.at
            && at == position
        {
            state.at = None;
            state.striking = Some((op.to_string(), kind, ATTEMPTS - 1));
            state.struck.push((position, op.to_string(), kind));
            return Some(kind);
        }
        let throttled = state
            .by_op
            .iter_mut()
            .filter(|(f, _)| f.op == op)
            .any(|(f, seen)| {
                *seen += 1;
                *seen > f.pass && *seen <= f.pass + f.fail
            });
        throttled.then_some(Kind::Throttle)
    }
}

/// The operation a request is (`PutItem`, `ses:SendEmail`, `events:PutEvents`,
/// `sqs:SendMessage`); `None` for the platform's own stream reads.
fn operation(target: &str, method: &hyper::Method, path: &str) -> Option<String> {
    if let Some(op) = target.strip_prefix("DynamoDB_20120810.") {
        return Some(op.to_string());
    }
    if target.starts_with("DynamoDBStreams_20120810.") {
        return None;
    }
    if let Some(op) = target.strip_prefix("AWSEvents.") {
        return Some(format!("events:{op}"));
    }
    if target.starts_with("Firehose_20150804.") {
        // The export's puts: a failure there delays or repeats a row in S3,
        // which no scenario's emails or counts depend on.
        return None;
    }
    if let Some(op) = target.strip_prefix("AmazonSQS.") {
        // Receiving, deleting and hiding messages is Lambda's event source
        // (the runner), not the product: only a send is the product's call.
        return (op == "SendMessage").then(|| format!("sqs:{op}"));
    }
    if path.starts_with("/v2/email/outbound-emails") && method == hyper::Method::POST {
        return Some("ses:SendEmail".into());
    }
    if path.starts_with("/v2/email") || path.starts_with("/moto-api") {
        return None;
    }
    Some(format!("{method} {path}"))
}

/// The failure a struck call is answered with, in the service's protocol.
fn failure(op: &str, kind: Kind) -> hyper::Response<Full<Bytes>> {
    let ses = op.starts_with("ses:");
    let (status, code) = match (kind, ses) {
        (Kind::Throttle, false) => (
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        ),
        (Kind::Throttle, true) => (429, "TooManyRequestsException"),
        (_, false) => (500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
        (_, true) => (500, "InternalFailure"),
    };
    let body = format!(r#"{{"__type":"{code}","message":"injected by the test proxy"}}"#);
    let mut r = hyper::Response::builder()
        .status(status)
        .header("x-amzn-errortype", code.rsplit('#').next().unwrap_or(code));
    r = r.header(
        "content-type",
        if ses {
            "application/json"
        } else {
            "application/x-amz-json-1.0"
        },
    );
    r.body(Full::new(Bytes::from(body))).expect("a response")
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
    let op = operation(&target, &parts.method, parts.uri.path());
    // `amz-sdk-request: attempt=2; max=3` on the SDK's retries.
    let attempt = header("amz-sdk-request");
    let retry = attempt.starts_with("attempt=") && !attempt.starts_with("attempt=1;");
    let strike = op.as_deref().and_then(|op| faults.strikes(op, retry));
    if let (Some(op), Some(kind)) = (&op, strike)
        && kind != Kind::LostAnswer
    {
        return Ok(failure(op, kind));
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
    if let (Some(op), Some(Kind::LostAnswer)) = (&op, strike) {
        return Ok(failure(op, Kind::LostAnswer));
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
