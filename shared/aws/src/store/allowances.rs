//! Allowances shared by every instance: one item per (name, window), its
//! count raised with a conditional `ADD` (so instances racing for the last
//! unit never both get it), forgotten by TTL after its window.

use super::*;
use waymark_app::ports::Allowances;
use waymark_core::ratelimit::Take;

impl Allowances for DynamoStore {
    async fn take(&self, take: &Take) -> Result<bool, StoreError> {
        // Room for `n` more: the count so far is at most `max - n`.
        let Some(room) = take.max.checked_sub(take.n) else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                PK,
                s(keys::allowance(&take.shop, &take.name, take.window_start)),
            )
            .key(SK, s(keys::sk::ALLOWANCE))
            .update_expression("SET #t = :t, #ttl = :ttl ADD #n :n")
            .condition_expression("attribute_not_exists(#n) OR #n <= :room")
            .expression_attribute_names("#t", TYPE)
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":t", s("allowance"))
            .expression_attribute_values(":ttl", n(take.expires_at.as_second()))
            .expression_attribute_values(":n", n(take.n))
            .expression_attribute_values(":room", n(room))
            .send()
            .await;
        applied(result, "take from an allowance")
    }
}
