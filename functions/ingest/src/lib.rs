//! `ingest` (Function URL): Shopify webhooks in, canonical events stored.
//! Routes: `POST /shopify`. Heavy work happens downstream (process).

use aws_config::SdkConfig;
use lambda_http::{Body, Error, Request, Response};
use waymark_app::ingest::{ShopifyIngest, WebhookRequest};
use waymark_aws::store::DynamoStore;

pub type Service = ShopifyIngest<DynamoStore>;

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let secret = waymark_aws::config::required("SHOPIFY_WEBHOOK_SECRET")?;
    Ok(build(&sdk, &table, &secret))
}

pub fn build(sdk: &SdkConfig, table: &str, secret: &str) -> Service {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    ShopifyIngest::new(secret.as_bytes().to_vec(), store)
}

pub async fn handle(service: &Service, req: Request) -> Result<Response<Body>, Error> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let route = req.uri().path().trim_end_matches('/');
    let reply = match (req.method().as_str(), route) {
        ("POST", "/shopify") => {
            service
                .handle(&WebhookRequest {
                    hmac: header("x-shopify-hmac-sha256"),
                    topic: header("x-shopify-topic"),
                    shop: header("x-shopify-shop-domain"),
                    webhook_id: header("x-shopify-webhook-id"),
                    event_id: header("x-shopify-event-id"),
                    triggered_at: header("x-shopify-triggered-at"),
                    body: req.body().as_ref(),
                })
                .await
        }
        (_, "/shopify") => waymark_app::ingest::Reply {
            status: 405,
            body: serde_json::json!({"error": "use POST"}),
        },
        _ => waymark_app::ingest::Reply {
            status: 404,
            body: serde_json::json!({"error": format!("no route {route}")}),
        },
    };
    Ok(Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .body(Body::Text(reply.body.to_string()))?)
}
