//! `timer` (EventBridge schedule, every minute): fires what is due as of the
//! schedule's own time, never the clock's.

use lambda_runtime::{Error, LambdaEvent};
use waymark_app::process::Processor;
use waymark_app::timer::{TickReport, tick};
use waymark_aws::store::DynamoStore;
use waymark_aws::stream::ScheduledEvent;

pub struct Service {
    processor: Processor<DynamoStore>,
}

pub async fn init() -> Result<Service, Error> {
    let sdk = waymark_aws::config::sdk().await;
    let table = waymark_aws::config::required("TABLE_NAME")?;
    let catalog = waymark_content::catalog().map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("bundled content is invalid:\n{}", text.join("\n"))
    })?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    Ok(Service {
        processor: Processor::new(catalog, store),
    })
}

pub async fn handle(service: &Service, event: LambdaEvent<ScheduledEvent>) -> Result<TickReport, Error> {
    let store = service.processor.store();
    Ok(tick(&service.processor, store, store, event.payload.time).await?)
}
