//! Segment memberships (one item per member, written with the contact).

use super::*;

impl Segments for DynamoStore {
    async fn count(&self, shop: &ShopDomain, segment: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(keys::segment(shop, segment)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("count segment", e))?;
            total += out.count as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    async fn members(&self, shop: &ShopDomain, segment: &str) -> Result<Vec<Member>, StoreError> {
        let items = self
            .partition(keys::segment(shop, segment), "list segment")
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
                Some(Member {
                    contact: ContactId::parse(&text("contact")?).ok()?,
                    email: text("email").and_then(|e| EmailAddress::parse(&e).ok()),
                })
            })
            .collect())
    }
}
