//! `preferences` (Function URL): the one-click unsubscribe, the preference
//! page and double opt-in confirmations.
//! Routes: `GET /unsubscribe?t=…` (the page: topics or everything; changes
//! nothing), `POST /unsubscribe?t=…` (RFC 8058 one-click, or the page's
//! buttons: `topic=<id>` fields or everything), `GET /confirm?t=…` (a page
//! with one button), `POST /confirm?t=…` (records the confirmed opt-in).

use aws_config::SdkConfig;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use waymark_app::preferences::Preferences;
use waymark_aws::store::DynamoStore;

pub type Service = Preferences<DynamoStore>;

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let keys = waymark_aws::config::token_keys(&sdk).await?;
    build(&sdk, &table, keys)
}

pub fn build(
    sdk: &SdkConfig,
    table: &str,
    keys: waymark_core::unsubscribe::TokenKeys,
) -> Result<Service, Error> {
    let topics = waymark_content::checked_catalog()?.topics().to_vec();
    Ok(Preferences::new(
        keys,
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
    )
    .with_topics(topics))
}

pub async fn handle(service: &Service, req: Request) -> Result<Response<Body>, Error> {
    let params = req.query_string_parameters();
    let token = params.first("t");
    let route = req.uri().path().trim_end_matches('/');
    let outcome = match (req.method().as_str(), route) {
        ("GET", "/unsubscribe") => service.confirm_page(token),
        ("POST", "/unsubscribe") => {
            let body = std::str::from_utf8(req.body().as_ref()).unwrap_or_default();
            let choice = service.choice(body);
            service
                .unsubscribe(token, choice, waymark_http::request_time(&req))
                .await
        }
        ("GET", "/confirm") => service.confirm_subscription_page(token),
        ("POST", "/confirm") => {
            service
                .confirm_subscription(token, waymark_http::request_time(&req))
                .await
        }
        _ => {
            return Ok(Response::builder()
                .status(404)
                .header("content-type", "text/plain; charset=utf-8")
                .body(Body::Text("not found".into()))?);
        }
    };
    let page = waymark_http::pages::render(&outcome);
    Ok(Response::builder()
        .status(page.status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Body::Text(page.html))?)
}
