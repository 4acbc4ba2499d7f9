//! Creates the template's tables, queues and email identities on the emulator (or
//! any endpoint the SDK is pointed at). Idempotent: existing ones are kept.

use crate::template::Template;
use anyhow::{Context, Result, anyhow};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::collections::HashMap;

/// Physical names for the local stack: table logical id → table name,
/// the logical id of a queue, bucket or delivery stream → its name (when
/// absent: the logical id, lower-cased for a bucket), and template
/// parameter values.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub tables: HashMap<String, String>,
    pub physical: HashMap<String, String>,
    pub parameters: HashMap<String, String>,
}

impl Names {
    /// A queue's or delivery stream's name on the local stack.
    pub fn of(&self, id: &str) -> String {
        self.physical
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// A bucket's name on the local stack.
    pub fn bucket(&self, id: &str) -> String {
        self.physical
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_lowercase())
    }
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
    // The queues (named by their logical id locally, unless named), those a
    // redrive policy names first, so the policy can name their ARN.
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues: Vec<(&String, &Value)> = template.of_type("AWS::SQS::Queue").collect();
    queues.sort_by_key(|(_, r)| !r["Properties"]["RedrivePolicy"].is_null());
    let mut arns = HashMap::new();
    for (id, r) in queues {
        let name = names.of(id);
        let mut request = sqs.create_queue().queue_name(&name);
        let props = &r["Properties"];
        if let Some(v) = props["VisibilityTimeout"].as_u64() {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        let redrive = &props["RedrivePolicy"];
        if !redrive.is_null() {
            let target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
                .as_str()
                .and_then(|t| arns.get(t))
                .ok_or_else(|| anyhow!("{id}: RedrivePolicy names no queue created before it"))?;
            let policy = serde_json::json!({
                "deadLetterTargetArn": target,
                "maxReceiveCount": redrive["maxReceiveCount"].as_u64().unwrap_or(5),
            });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .with_context(|| format!("creating queue {id}"))?
            .queue_url
            .ok_or_else(|| anyhow!("creating queue {id}: no URL"))?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .with_context(|| format!("reading queue {id}"))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| anyhow!("queue {id} has no ARN"))?;
        arns.insert(id.clone(), arn);
    }
    // Buckets, and the Firehose streams that write to them (moto writes
    // each batch as one object, uncompressed, under the stream's prefix).
    let endpoint = sdk
        .endpoint_url()
        .ok_or_else(|| anyhow!("the local stack needs AWS_ENDPOINT_URL"))?
        .trim_end_matches('/')
        .to_string();
    let http = reqwest::Client::new();
    for (id, _) in template.of_type("AWS::S3::Bucket") {
        let bucket = names.bucket(id);
        let resp = http
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .with_context(|| format!("creating bucket {bucket}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() && !text.contains("BucketAlreadyOwnedByYou") {
            return Err(anyhow!("creating bucket {bucket}: {status} {text}"));
        }
    }
    let firehose = aws_sdk_firehose::Client::new(sdk);
    for (id, r) in template.of_type("AWS::KinesisFirehose::DeliveryStream") {
        let dest = &r["Properties"]["ExtendedS3DestinationConfiguration"];
        let bucket = dest["BucketARN"]["Fn::GetAtt"][0]
            .as_str()
            .ok_or_else(|| anyhow!("{id}: BucketARN must be Fn::GetAtt [Bucket, Arn]"))?;
        let s3 = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
            .bucket_arn(format!("arn:aws:s3:::{}", names.bucket(bucket)))
            .role_arn("arn:aws:iam::123456789012:role/local-firehose")
            .prefix(dest["Prefix"].as_str().unwrap_or_default())
            .build()?;
        let result = firehose
            .create_delivery_stream()
            .delivery_stream_name(names.of(id))
            .delivery_stream_type(aws_sdk_firehose::types::DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(s3)
            .send()
            .await;
        if let Err(e) = result {
            let text = format!("{e:?}");
            if !text.contains("ResourceInUse") {
                return Err(anyhow!("{id}: creating delivery stream: {text}"));
            }
        }
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
