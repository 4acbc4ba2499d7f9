//! `ingest` (Function URL): Shopify webhooks and storefront events in,
//! canonical events stored. Routes: `POST /shopify` (HMAC-signed webhooks),
//! `POST|OPTIONS /track` (the storefront snippet, by public write key).
//! Heavy work happens downstream (process).

use aws_config::SdkConfig;
use lambda_http::{Body, Error, Request, Response};
use waymark_app::ingest::{ShopifyIngest, WebhookRequest};
use waymark_app::track::{FormAllowances, SiteIngest, TrackConfig, TrackRequest};
use waymark_aws::store::DynamoStore;
use waymark_core::ratelimit::Allowance;

pub struct Service {
    pub shopify: ShopifyIngest<DynamoStore>,
    pub site: SiteIngest<DynamoStore>,
}

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let secret = waymark_aws::config::required_secret(&sdk, "SHOPIFY_WEBHOOK_SECRET").await?;
    let mut track = track_config(
        waymark_aws::config::optional("WAYMARK_TRACK_KEYS").as_deref(),
        waymark_aws::config::optional("WAYMARK_TRACK_RATE").as_deref(),
        waymark_aws::config::optional("WAYMARK_TRACK_MAX_SKEW").as_deref(),
    )?;
    track.forms = form_allowances(
        waymark_aws::config::optional("WAYMARK_FORMS_PER_KEY").as_deref(),
        waymark_aws::config::optional("WAYMARK_FORMS_PER_ADDRESS").as_deref(),
    )?;
    Ok(build(&sdk, &table, &secret, track))
}

/// Tracking settings: write keys (none: `/track` refuses everything), the
/// per-key rate in events a second (default 20) and the accepted clock
/// skew (default `24h`; `off` accepts any time).
pub fn track_config(
    keys: Option<&str>,
    rate: Option<&str>,
    skew: Option<&str>,
) -> Result<TrackConfig, Error> {
    let keys = TrackConfig::parse_keys(keys.unwrap_or(""))
        .map_err(|e| format!("WAYMARK_TRACK_KEYS: {e}"))?;
    let rate = match rate {
        None => 20.0,
        Some(r) => waymark_aws::config::positive_number("WAYMARK_TRACK_RATE", r)?,
    };
    let max_skew = match skew.map(str::trim) {
        None => Some(jiff::SignedDuration::from_hours(24)),
        Some("off") => None,
        Some(d) => Some(
            waymark_core::time::parse_duration(d)
                .map_err(|e| format!("WAYMARK_TRACK_MAX_SKEW: {e}"))?,
        ),
    };
    Ok(TrackConfig {
        keys,
        rate,
        max_skew,
        forms: FormAllowances::default(),
    })
}

/// The form allowances (`<count>/<window>`), each defaulting to
/// `FormAllowances::default()` (300/1h per key, 3/1d per address).
pub fn form_allowances(
    per_key: Option<&str>,
    per_address: Option<&str>,
) -> Result<FormAllowances, Error> {
    let mut forms = FormAllowances::default();
    if let Some(raw) = per_key {
        forms.per_key = Allowance::parse(raw).map_err(|e| format!("WAYMARK_FORMS_PER_KEY: {e}"))?;
    }
    if let Some(raw) = per_address {
        forms.per_address =
            Allowance::parse(raw).map_err(|e| format!("WAYMARK_FORMS_PER_ADDRESS: {e}"))?;
    }
    Ok(forms)
}

pub fn build(sdk: &SdkConfig, table: &str, secret: &str, track: TrackConfig) -> Service {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    Service {
        shopify: ShopifyIngest::new(secret.as_bytes().to_vec(), store.clone()),
        site: SiteIngest::new(track, store),
    }
}

/// The storefront snippet, served at `GET /waymark.js`.
pub const SNIPPET: &str = include_str!("../snippet/waymark.js");

pub async fn handle(service: &Service, req: Request) -> Result<Response<Body>, Error> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let route = req.uri().path().trim_end_matches('/');
    let method = req.method().as_str();
    if route == "/waymark.js" && method == "GET" {
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "application/javascript; charset=utf-8")
            .header("cache-control", "public, max-age=3600")
            .header("access-control-allow-origin", "*")
            .body(Body::Text(SNIPPET.to_string()))?);
    }
    let answer = match (method, route) {
        ("POST", "/shopify") => waymark_http::answers::webhook(
            &service
                .shopify
                .handle(&WebhookRequest {
                    hmac: header("x-shopify-hmac-sha256"),
                    topic: header("x-shopify-topic"),
                    shop: header("x-shopify-shop-domain"),
                    webhook_id: header("x-shopify-webhook-id"),
                    event_id: header("x-shopify-event-id"),
                    triggered_at: header("x-shopify-triggered-at"),
                    received_at: waymark_http::request_time(&req),
                    body: req.body().as_ref(),
                })
                .await,
        ),
        (_, "/shopify") => plain(405, serde_json::json!({"error": "use POST"})),
        (_, "/track") => waymark_http::answers::track(
            &service
                .site
                .handle(&TrackRequest {
                    method,
                    origin: header("origin"),
                    key: header("x-waymark-key"),
                    body: req.body().as_ref(),
                    now: waymark_http::request_time(&req),
                })
                .await,
        ),
        _ => plain(
            404,
            serde_json::json!({"error": format!("no route {route}")}),
        ),
    };
    let mut metrics = waymark_aws::metrics::Metrics::default();
    metrics.add(metric(route, answer.status), 1.0);
    metrics.emit("ingest");
    respond(answer)
}

/// The metric one request counts in: its route and how it was answered.
fn metric(route: &str, status: u16) -> &'static str {
    let kind = match route {
        "/track" => "Track",
        "/shopify" => "Webhook",
        _ => "Other",
    };
    match (kind, status) {
        ("Other", _) => "OtherRequests",
        ("Webhook", 200..=299) => "WebhooksAccepted",
        ("Webhook", 401) => "WebhooksUnauthorized",
        ("Webhook", 400..=499) => "WebhooksRefused",
        ("Webhook", _) => "WebhooksFailed",
        (_, 200..=299) => "TrackAccepted",
        (_, 429) => "TrackThrottled",
        (_, 400..=499) => "TrackRefused",
        _ => "TrackFailed",
    }
}

/// The answer as the function URL's HTTP response (JSON, when it has a body).
fn respond(answer: waymark_http::answers::Answer) -> Result<Response<Body>, Error> {
    let mut response = Response::builder()
        .status(answer.status)
        .header("content-type", "application/json");
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    let body = match answer.body {
        Some(json) => Body::Text(json.to_string()),
        None => Body::Empty,
    };
    Ok(response.body(body)?)
}

fn plain(status: u16, body: serde_json::Value) -> waymark_http::answers::Answer {
    waymark_http::answers::Answer {
        status,
        headers: Vec::new(),
        body: Some(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_allowances_default_and_name_their_setting_when_wrong() {
        let defaults = form_allowances(None, None).unwrap();
        assert_eq!(defaults, FormAllowances::default());
        let set = form_allowances(Some("50/10m"), Some("1/7d")).unwrap();
        assert_eq!(set.per_key.max, 50);
        assert_eq!(
            set.per_address.window,
            jiff::SignedDuration::from_hours(168)
        );
        let e = form_allowances(Some("lots"), None).unwrap_err().to_string();
        assert!(e.starts_with("WAYMARK_FORMS_PER_KEY: `lots`"), "{e}");
        let e = form_allowances(None, Some("3/30d"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("WAYMARK_FORMS_PER_ADDRESS:"), "{e}");
    }
}
