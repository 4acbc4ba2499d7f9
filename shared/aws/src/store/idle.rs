//! The time-bucketed idle index the daily sweep reads (no scan of the
//! contacts).

use super::*;

impl IdleIndex for DynamoStore {
    async fn idle_between(&self, from: i32, to: i32) -> Result<IdleBatch, StoreError> {
        let mut batch = IdleBatch::default();
        for shard in 0..keys::DUE_SHARDS {
            let items = self
                .query_all(
                    || {
                        self.client
                            .query()
                            .table_name(&self.table)
                            .index_name(IDLE_INDEX)
                            .key_condition_expression(
                                "idle_shard = :s AND idle_key BETWEEN :from AND :to",
                            )
                            .expression_attribute_values(":s", s(format!("I#{shard}")))
                            .expression_attribute_values(":from", s(keys::idle_day(from)))
                            .expression_attribute_values(
                                ":to",
                                s(format!("{}~", keys::idle_day(to))),
                            )
                    },
                    "query idle index",
                )
                .await?;
            batch.items_read += items.len() as u64;
            batch.contacts.extend(items.iter().filter_map(|item| {
                item.get(PK)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|pk| keys::parse_contact(pk))
            }));
        }
        Ok(batch)
    }

    async fn sweep_cursor(&self) -> Result<Option<i32>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(keys::SWEEP_CURSOR))
            .key(SK, s(keys::sk::SWEEP_CURSOR))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("read sweep cursor", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("day").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|d| d.parse().ok()))
    }

    async fn set_sweep_cursor(&self, day: i32) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(keys::SWEEP_CURSOR))
            .item(SK, s(keys::sk::SWEEP_CURSOR))
            .item(TYPE, s("cursor"))
            .item("day", n(day))
            .send()
            .await
            .map_err(|e| sdk_err("write sweep cursor", e))?;
        Ok(())
    }
}
