//! The sparse, sharded due index: what the timer fires (waits, retries,
//! expired claims, reviews).

use super::*;

impl DueIndex for DynamoStore {
    async fn due(&self, now: Timestamp) -> Result<Vec<Due>, StoreError> {
        let mut due = Vec::new();
        for shard in 0..keys::DUE_SHARDS {
            due.extend(self.due_items(now, shard).await?);
        }
        // A contact can be due twice (a wait and a review): once is enough.
        Ok(waymark_app::ports::due_order(due))
    }

    async fn due_in(&self, now: Timestamp, shard: u32) -> Result<Vec<Due>, StoreError> {
        Ok(waymark_app::ports::due_order(
            self.due_items(now, shard).await?,
        ))
    }
}

impl DynamoStore {
    /// One shard's entries due by `now`, with when each fell due.
    async fn due_items(
        &self,
        now: Timestamp,
        shard: u32,
    ) -> Result<Vec<(Timestamp, Due)>, StoreError> {
        let items = self
            .query_all(
                || {
                    self.client
                        .query()
                        .table_name(&self.table)
                        .index_name(DUE_INDEX)
                        .key_condition_expression("due_shard = :s AND due_at <= :now")
                        .expression_attribute_values(":s", s(format!("D#{shard}")))
                        .expression_attribute_values(":now", n(now.as_millisecond()))
                },
                "query due index",
            )
            .await?;
        let mut due = Vec::with_capacity(items.len());
        for item in items {
            let pk = item
                .get(PK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let at = Timestamp::from_millisecond(read_n(&item, DUE_AT) as i64)
                .unwrap_or(Timestamp::UNIX_EPOCH);
            if let Some((shop, id)) = keys::parse_contact(&pk) {
                due.push((at, Due::Contact { shop, id }));
            } else if keys::is_outbox(&pk) {
                due.push((at, Due::Message { id: pk }));
            } else if let Some((shop, id)) = keys::parse_campaign(&pk) {
                due.push((at, Due::Campaign { shop, id }));
            }
        }
        Ok(due)
    }
}
