//! Creates the template's tables, queues and email identities on the emulator (or
//! any endpoint the SDK is pointed at). Idempotent: existing ones are kept.

use crate::template::Template;
use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde_json::Value;
use std::collections::HashMap;

/// Physical names for the local stack: table logical id → table name, and
/// template parameter values.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub tables: HashMap<String, String>,
    pub parameters: HashMap<String, String>,
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>> {
    v.as_array()
        .ok_or_else(|| anyhow!("KeySchema must be a list"))?
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                .build()?)
        })
        .collect()
}

fn resolve(v: &Value, names: &Names) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            let r = o.get("Ref")?.as_str()?;
            names.parameters.get(r).cloned()
        }
        _ => None,
    }
}

pub async fn create(sdk: &aws_config::SdkConfig, template: &Template, names: &Names) -> Result<()> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for (id, r) in template.of_type("AWS::DynamoDB::Table") {
        let name = names
            .tables
            .get(id)
            .ok_or_else(|| anyhow!("no local name given for table {id}"))?;
        let p = &r["Properties"];
        let exists = ddb.describe_table().table_name(name).send().await.is_ok();
        if !exists {
            let mut req = ddb
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::from(
                    p["BillingMode"].as_str().unwrap_or("PAY_PER_REQUEST"),
                ))
                .set_key_schema(Some(key_schema(&p["KeySchema"])?));
            for a in p["AttributeDefinitions"].as_array().into_iter().flatten() {
                req = req.attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(a["AttributeName"].as_str().unwrap_or_default())
                        .attribute_type(ScalarAttributeType::from(
                            a["AttributeType"].as_str().unwrap_or_default(),
                        ))
                        .build()?,
                );
            }
            for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
                req = req.global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(g["IndexName"].as_str().unwrap_or_default())
                        .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::from(
                                    g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL"),
                                ))
                                .build(),
                        )
                        .build()?,
                );
            }
            if let Some(view) = p["StreamSpecification"]["StreamViewType"].as_str() {
                req = req.stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::from(view))
                        .build()?,
                );
            }
            req.send()
                .await
                .with_context(|| format!("creating table {name}"))?;
            if let Some(attr) = p["TimeToLiveSpecification"]["AttributeName"].as_str() {
                ddb.update_time_to_live()
                    .table_name(name)
                    .time_to_live_specification(
                        TimeToLiveSpecification::builder()
                            .attribute_name(attr)
                            .enabled(true)
                            .build()?,
                    )
                    .send()
                    .await
                    .with_context(|| format!("enabling TTL on {name}"))?;
            }
        }
    }
    // The failure destinations (named by their logical id locally).
    let sqs = aws_sdk_sqs::Client::new(sdk);
    for (id, _) in template.of_type("AWS::SQS::Queue") {
        sqs.create_queue()
            .queue_name(id)
            .send()
            .await
            .with_context(|| format!("creating queue {id}"))?;
    }
    let ses = aws_sdk_sesv2::Client::new(sdk);
    for (id, r) in template.of_type("AWS::SES::EmailIdentity") {
        let identity = resolve(&r["Properties"]["EmailIdentity"], names)
            .ok_or_else(|| anyhow!("{id}: EmailIdentity needs a value (parameter missing?)"))?;
        let result = ses
            .create_email_identity()
            .email_identity(&identity)
            .send()
            .await;
        if let Err(e) = result {
            let text = format!("{e:?}");
            if !text.contains("AlreadyExists") {
                return Err(anyhow!("{id}: creating identity {identity}: {text}"));
            }
        }
    }
    Ok(())
}

/// The stream ARN of a table.
pub async fn stream_arn(sdk: &aws_config::SdkConfig, table: &str) -> Result<String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let out = ddb.describe_table().table_name(table).send().await?;
    out.table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| anyhow!("table {table} has no stream"))
}
