//! The suppression list: one item per hashed address (reason, topics),
//! read by dispatch before every send.

use super::*;

impl Suppressions for DynamoStore {
    async fn suppression(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<Option<SuppressionReason>, StoreError> {
        Ok(self.suppression_state(shop, email).await?.reason)
    }

    async fn suppression_state(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> Result<SuppressionState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::suppression(shop, &email.lookup_key())))
            .key(SK, s(keys::sk::SUPPRESSION))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read suppression", e))?;
        let Some(item) = out.item else {
            return Ok(SuppressionState::default());
        };
        Ok(SuppressionState {
            reason: item
                .get("reason")
                .and_then(|v| v.as_s().ok())
                .and_then(|r| SuppressionReason::parse(r)),
            topics: item
                .get("topics")
                .and_then(|v| v.as_ss().ok())
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default(),
        })
    }

    async fn suppress(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        reason: SuppressionReason,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .suppression_update(shop, email)
            .update_expression("SET #t = :type, reason = :r, #at = :at")
            // Never downgrade: a bounce or complaint outranks an unsubscribe.
            .condition_expression("attribute_not_exists(reason) OR reason = :unsub")
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":type", s("suppression"))
            .expression_attribute_values(":r", s(reason.as_str()))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":unsub", s(SuppressionReason::Unsubscribed.as_str()))
            .send()
            .await;
        applied(result, "write suppression").map(|_| ())
    }

    async fn suppress_topics(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        topics: &[String],
        at: Timestamp,
    ) -> Result<(), StoreError> {
        if topics.is_empty() {
            return Ok(());
        }
        self.suppression_update(shop, email)
            .update_expression("SET #t = :type, #at = :at ADD topics :topics")
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":type", s("suppression"))
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":topics", AttributeValue::Ss(topics.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_err("write topic suppression", e))?;
        Ok(())
    }

    async fn lift_unsubscribe(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let result = self
            .suppression_update(shop, email)
            .update_expression("SET #at = :at REMOVE reason, topics")
            // Only an unsubscribe is lifted; a bounce or complaint stays.
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(reason) OR reason = :unsub)",
            )
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":unsub", s(SuppressionReason::Unsubscribed.as_str()))
            .send()
            .await;
        applied(result, "lift suppression").map(|_| ())
    }
}

impl DynamoStore {
    /// An update of one address's suppression item (table and key set).
    fn suppression_update(
        &self,
        shop: &ShopDomain,
        email: &EmailAddress,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(keys::suppression(shop, &email.lookup_key())))
            .key(SK, s(keys::sk::SUPPRESSION))
    }
}
