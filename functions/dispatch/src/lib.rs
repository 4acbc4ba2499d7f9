//! `dispatch` (DynamoDB stream, queued outbox messages): sends each message
//! once per claim through SES v2; failures are retried later or parked.

use aws_config::SdkConfig;
use lambda_runtime::{Error, LambdaEvent};
use waymark_app::dispatch::{Dispatcher, Unsubscribe};
use waymark_aws::events::EventBridgePublisher;
use waymark_aws::ses::SesMailer;
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::{BatchResponse, StreamBatch};
use waymark_core::email::{Renderer, Sender};
use waymark_core::ids::EmailAddress;

pub type Service = Dispatcher<DynamoStore, SesMailer, EventBridgePublisher>;

/// Built once per cold start from the environment.
pub async fn init() -> Result<Service, Error> {
    Ok(init_sharing(1.0).await?.0)
}

/// As `init`, sending at `share` of the account's rate per instance (a
/// function that sends beside dispatch, many instances side by side);
/// with that rate, in emails a second.
pub async fn init_sharing(share: f64) -> Result<(Service, f64), Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let address = EmailAddress::parse(&waymark_aws::config::required("SENDER_EMAIL")?)
        .map_err(|e| format!("SENDER_EMAIL: {e}"))?;
    let sender = Sender {
        name: waymark_aws::config::optional("SENDER_NAME").unwrap_or_default(),
        address,
    };
    let configuration_set = waymark_aws::config::optional("SES_CONFIGURATION_SET");
    let unsubscribe = Unsubscribe {
        keys: waymark_aws::config::token_keys(&sdk).await?,
        url: format!(
            "{}/unsubscribe",
            waymark_aws::config::required("PREFERENCES_URL")?.trim_end_matches('/')
        ),
        mailto: match waymark_aws::config::optional("UNSUBSCRIBE_MAILTO") {
            None => None,
            Some(m) => Some(
                EmailAddress::parse(&m)
                    .map_err(|e| format!("UNSUBSCRIBE_MAILTO: {e}"))?
                    .to_string(),
            ),
        },
    };
    let ses = ses_client(&sdk);
    // The account's sending rate: SES_MAX_SEND_RATE if set, else the quota
    // SES reports, else SesMailer's default.
    let rate = match waymark_aws::config::optional("SES_MAX_SEND_RATE") {
        Some(r) => waymark_aws::config::positive_number("SES_MAX_SEND_RATE", &r)?,
        None => SesMailer::account_rate(&ses)
            .await
            .unwrap_or(waymark_aws::ses::DEFAULT_SEND_RATE),
    };
    let service = build_paced(
        &sdk,
        &table,
        sender,
        configuration_set,
        unsubscribe,
        ses,
        Some(rate * share),
    )?;
    Ok((service, rate * share))
}

/// The SES client sends each request once: a request whose answer was lost
/// may have been carried out, and SES has no idempotency key, so the SDK's
/// own retry would send a second email nobody counts. Dispatch retries
/// instead, through the outbox, counting a send after an unknown outcome
/// as a possible duplicate.
pub fn ses_client(sdk: &SdkConfig) -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// The EventBridge client, for the same reason sending each request once.
pub fn bus_client(sdk: &SdkConfig) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::config::Builder::from(sdk)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

pub fn build(
    sdk: &SdkConfig,
    table: &str,
    sender: Sender,
    configuration_set: Option<String>,
    unsubscribe: Unsubscribe,
) -> Result<Service, Error> {
    let ses = ses_client(sdk);
    build_with(sdk, table, sender, configuration_set, unsubscribe, ses)
}

/// As `build`, with a given SES client.
pub fn build_with(
    sdk: &SdkConfig,
    table: &str,
    sender: Sender,
    configuration_set: Option<String>,
    unsubscribe: Unsubscribe,
    ses: aws_sdk_sesv2::Client,
) -> Result<Service, Error> {
    build_paced(
        sdk,
        table,
        sender,
        configuration_set,
        unsubscribe,
        ses,
        None,
    )
}

/// As `build_with`, sending at most `rate` emails a second (per instance).
pub fn build_paced(
    sdk: &SdkConfig,
    table: &str,
    sender: Sender,
    configuration_set: Option<String>,
    unsubscribe: Unsubscribe,
    ses: aws_sdk_sesv2::Client,
    rate: Option<f64>,
) -> Result<Service, Error> {
    let catalog = waymark_content::checked_catalog()?;
    let mailer = SesMailer::new(ses, configuration_set);
    let mailer = match rate {
        Some(r) => mailer.with_rate(r),
        None => mailer,
    };
    let bus = waymark_aws::config::optional("EVENT_BUS_NAME").unwrap_or_else(|| "default".into());
    Ok(Dispatcher::new(
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
        mailer,
        EventBridgePublisher::new(bus_client(sdk), bus),
        Renderer::for_catalog(&catalog),
        sender,
        unsubscribe,
    )
    .with_zone(catalog.time_zone().clone())
    .with_store_url(catalog.shop().and_then(|s| s.url.clone())))
}

pub async fn handle(
    service: &Service,
    batch: LambdaEvent<StreamBatch>,
) -> Result<BatchResponse, Error> {
    let deadline = waymark_aws::config::deadline(&batch.context);
    let mut response = BatchResponse::default();
    let mut metrics = waymark_aws::metrics::Metrics::default();
    for record in &batch.payload.records {
        if record.string("t") != Some("outbox") || record.string("st") != Some("queued") {
            continue;
        }
        let Some(id) = record.string("PK") else {
            continue;
        };
        use waymark_app::dispatch::Outcome;
        match service.dispatch(id, deadline).await {
            Ok(Outcome::Sent(_)) => metrics.add("EmailsSent", 1.0),
            Ok(Outcome::Retry(_)) => metrics.add("SendsRetried", 1.0),
            Ok(Outcome::Parked(_)) => metrics.add("MessagesParked", 1.0),
            Ok(Outcome::Suppressed(_)) => metrics.add("SendsSuppressed", 1.0),
            Ok(Outcome::Stopped) => metrics.add("SendsStopped", 1.0),
            Ok(Outcome::NotClaimed) => {}
            Err(e) => {
                metrics.add("DispatchErrors", 1.0);
                tracing::error!(outbox_id = id, error = %e, "dispatch failed; record will be retried");
                response.fail(record);
            }
        }
    }
    metrics.emit("dispatch");
    Ok(response)
}
