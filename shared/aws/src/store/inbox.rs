//! The inbox: canonical events, written conditionally by their fact id so a
//! redelivery is a duplicate (the event names the delivery that brought it).

use super::*;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

impl Inbox for DynamoStore {
    async fn record(&self, receipt: &Receipt, event: &Event) -> Result<Recorded, StoreError> {
        let mut event_item: Item = HashMap::from([
            (PK.into(), s(keys::event(&event.shop, &event.id))),
            (SK.into(), s(keys::sk::EVENT)),
            (TYPE.into(), s("event")),
            ("kind".into(), s(event.kind.name())),
            ("at".into(), s(event.at.to_string())),
            (DOC.into(), doc(event)?),
            (TTL.into(), event_ttl(event.at)),
        ]);
        // The platform's own id of the fact (Shopify's event id), beside the
        // delivery the event's source names. No receipt item of its own: the
        // event's conditional put is what decides, and one write a delivery
        // bills half of two.
        if let Some(platform) = &receipt.platform_event_id {
            event_item.insert("platform_event_id".into(), s(platform));
        }
        // The event's own conditional put decides: a fact already recorded
        // (this delivery again, or the same fact by another delivery) is a
        // duplicate.
        let recorded = match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
        {
            Ok(_) => Recorded::New,
            Err(e) if is_condition_failure(&e) => {
                // Which delivery stored it: the same one again, or another.
                let old = match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(x)) => x.item(),
                    _ => None,
                };
                let again = old
                    .and_then(|item| read_doc::<Event>(item).ok())
                    .is_some_and(|old| old.source.delivery_id == event.source.delivery_id);
                if again {
                    Recorded::Again
                } else {
                    Recorded::Duplicate
                }
            }
            Err(e) => return Err(sdk_err("record event", e)),
        };
        Ok(recorded)
    }

    async fn reject(&self, rejected: &Rejected) -> Result<(), StoreError> {
        // DynamoDB items stop at 400 KB; keep the head of an oversized body.
        let body = &rejected.body[..rejected.body.len().min(350_000)];
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                PK,
                s(keys::rejected(
                    &rejected.receipt.shop,
                    &rejected.receipt.delivery_id,
                )),
            )
            .item(SK, s(keys::sk::REJECTED))
            .item(TYPE, s("rejected"))
            .item("topic", s(&rejected.receipt.topic))
            .item("error", s(&rejected.error))
            .item("body", AttributeValue::B(body.to_vec().into()))
            .item(
                "truncated",
                AttributeValue::Bool(body.len() < rejected.body.len()),
            );
        // Undated deliveries are kept until an operator removes them.
        if let Some(at) = rejected.receipt.received_at {
            request = request.item(TTL, ttl(at));
        }
        request
            .send()
            .await
            .map_err(|e| sdk_err("keep rejected delivery", e))?;
        Ok(())
    }
}
