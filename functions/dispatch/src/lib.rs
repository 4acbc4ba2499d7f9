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
        secret: waymark_aws::config::required("UNSUBSCRIBE_SECRET")?.into_bytes(),
        url: format!(
            "{}/unsubscribe",
            waymark_aws::config::required("PREFERENCES_URL")?.trim_end_matches('/')
        ),
    };
    build(&sdk, &table, sender, configuration_set, unsubscribe)
}

pub fn build(
    sdk: &SdkConfig,
    table: &str,
    sender: Sender,
    configuration_set: Option<String>,
    unsubscribe: Unsubscribe,
) -> Result<Service, Error> {
    let ses = aws_sdk_sesv2::Client::new(sdk);
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
    let catalog = waymark_content::checked_catalog()?;
    let bus = waymark_aws::config::optional("EVENT_BUS_NAME").unwrap_or_else(|| "default".into());
    Ok(Dispatcher::new(
        DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
        SesMailer::new(ses, configuration_set),
        EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus),
        Renderer::new(catalog.templates()),
        sender,
        unsubscribe,
    ))
}

pub async fn handle(
    service: &Service,
    batch: LambdaEvent<StreamBatch>,
) -> Result<BatchResponse, Error> {
    let mut response = BatchResponse::default();
    for record in &batch.payload.records {
        if record.string("t") != Some("outbox") || record.string("st") != Some("queued") {
            continue;
        }
        let Some(id) = record.string("PK") else {
            continue;
        };
        if let Err(e) = service.dispatch(id).await {
            tracing::error!(outbox_id = id, error = %e, "dispatch failed; record will be retried");
            response.fail(record);
        }
    }
    Ok(response)
}
