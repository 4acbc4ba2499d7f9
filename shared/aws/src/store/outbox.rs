//! The outbox: claim before send, mark sent, retry or park.

use super::*;
use waymark_core::analytics::Counts;

impl Outbox for DynamoStore {
    fn key(&self, message: &OutboxMessage) -> String {
        keys::outbox(&message.shop, &message.id)
    }

    async fn claim(&self, id: &str, lease_until: Timestamp) -> Result<Option<Claimed>, StoreError> {
        // A message's due time already past the lease stays where it is (a
        // fresh message's, 15 minutes after it was queued): the claim does
        // not move its index key, which bills two index writes. Only a
        // message claimed later than that gets the lease as its due time.
        if let Some(claimed) = self.claim_with(id, lease_until, false).await? {
            return Ok(Some(claimed));
        }
        self.claim_with(id, lease_until, true).await
    }

    async fn create_claimed(&self, m: &OutboxMessage) -> Result<Option<Claimed>, StoreError> {
        // As a claim leaves a message (`sending`, its first attempt,
        // `inflight` until settled), in no due index: its sender holds it,
        // and a retry, a park or `watch` puts it where the timer finds it.
        let mut item = super::contacts::outbox_item(m)?;
        item.remove(DUE_SHARD);
        item.remove(DUE_AT);
        item.insert("st".into(), s("sending"));
        item.insert("attempts".into(), n(1));
        item.insert("inflight".into(), AttributeValue::Bool(true));
        Ok(self
            .put_new(item, "create claimed message")
            .await?
            .then(|| Claimed {
                message: m.clone(),
                attempt: 1,
                unsure: false,
            }))
    }

    async fn watch(
        &self,
        shop: &ShopDomain,
        message_id: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let id = &keys::outbox(shop, message_id);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("st = :sending AND attribute_not_exists(due_at)")
            .update_expression("SET due_shard = :shard, due_at = :at")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":shard", s(keys::shard(id)))
            .expression_attribute_values(":at", n(at.as_millisecond()))
            .send()
            .await;
        applied(result, "watch message").map(|_| ())
    }

    async fn mark_sent(
        &self,
        id: &str,
        provider_id: &str,
        keep_until: Timestamp,
        counts: &Counts,
    ) -> Result<bool, StoreError> {
        let Some(shop) = keys::outbox_shop(id) else {
            return Err(StoreError::new(
                StoreErrorKind::Corrupt,
                "mark sent",
                format!("not an outbox key: {id}"),
            ));
        };
        // The send's count rides on its mark (one write, no transaction):
        // the stream hands it to the counters once (`tally.rs`).
        let carried = super::tally::counts_attribute(&shop, &format!("sent#{id}"), counts)?;
        match self
            .mark_sent_with(id, provider_id, keep_until, carried.clone())
            .await
        {
            Ok(marked) => Ok(marked),
            // Once more in place: a mark whose answer was lost finds the
            // message sent (nothing counted twice), and a passing failure
            // does not leave a sent message to be sent again.
            Err(e) => {
                tracing::warn!(outbox_id = id, error = %e, "mark failed; once more");
                self.mark_sent_with(id, provider_id, keep_until, carried)
                    .await
            }
        }
    }

    async fn retry_at(
        &self,
        c: &Claimed,
        at: Timestamp,
        error: &str,
        unknown: bool,
    ) -> Result<(), StoreError> {
        let shard = keys::shard(&self.key(&c.message));
        self.settle(
            c,
            if unknown {
                "SET st = :st, slot_ms = :at, due_shard = :shard, due_at = :at, last_error = :why"
            } else {
                "SET st = :st, slot_ms = :at, due_shard = :shard, due_at = :at, last_error = :why REMOVE inflight"
            },
            [
                (":st", s("retry")),
                (":at", n(at.as_millisecond())),
                (":shard", s(shard)),
                (":why", s(error)),
            ],
            "schedule retry",
        )
        .await
    }

    async fn park(&self, c: &Claimed, error: &str) -> Result<(), StoreError> {
        self.settle(
            c,
            "SET st = :st, last_error = :why, #ttl = :ttl REMOVE due_shard, due_at, inflight",
            [
                (":st", s("parked")),
                (":why", s(error)),
                (":ttl", settled_ttl(c)),
            ],
            "park message",
        )
        .await
    }

    async fn skip(&self, c: &Claimed, reason: &str) -> Result<(), StoreError> {
        self.settle(
            c,
            "SET st = :st, skip_reason = :why, #ttl = :ttl REMOVE due_shard, due_at, inflight",
            [
                (":st", s("skipped")),
                (":why", s(reason)),
                (":ttl", settled_ttl(c)),
            ],
            "skip message",
        )
        .await
    }

    async fn requeue(&self, id: &str, now: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("st IN (:retry, :sending, :queued, :held) AND due_at <= :now")
            // Back to `queued` (a MODIFY the stream hands to dispatch), and
            // checked again later in case this record is lost too.
            .update_expression("SET st = :queued, due_at = :next")
            .expression_attribute_values(":retry", s("retry"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":held", s("held"))
            .expression_attribute_values(":now", n(now.as_millisecond()))
            .expression_attribute_values(
                ":next",
                n(now
                    .checked_add(waymark_app::ports::REDRIVE_QUEUED)
                    .unwrap_or(now)
                    .as_millisecond()),
            )
            .send()
            .await;
        applied(result, "requeue message").map(|_| ())
    }
}

impl DynamoStore {
    /// The mark: sent, with the provider's id, out of the due index, kept
    /// until `keep_until`; only once (a message marked sent stays as it is).
    /// Marks a message sent, with what it counts: `false` if it was sent
    /// already.
    async fn mark_sent_with(
        &self,
        id: &str,
        provider_id: &str,
        keep_until: Timestamp,
        counts: Option<AttributeValue>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("attribute_exists(PK) AND st <> :sent")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":pid", s(provider_id))
            .expression_attribute_values(":ttl", n(keep_until.as_second()));
        let set = "SET st = :sent, provider_id = :pid, #ttl = :ttl";
        let remove = "REMOVE due_shard, due_at, last_error, inflight";
        request = match counts {
            Some(c) => request
                .expression_attribute_names("#counts", super::tally::COUNTS)
                .expression_attribute_values(":counts", c)
                .update_expression(format!("{set}, #counts = :counts {remove}")),
            None => request.update_expression(format!("{set} {remove}")),
        };
        applied(request.send().await, "mark sent")
    }

    /// Claims a queued message: with `move_due`, its due time becomes the
    /// lease; without, only if its due time is at or after the lease.
    async fn claim_with(
        &self,
        id: &str,
        lease_until: Timestamp,
        move_due: bool,
    ) -> Result<Option<Claimed>, StoreError> {
        // `inflight` stays until the attempt is settled: found by the next
        // claim, it says an earlier attempt may have sent it.
        let (condition, update) = if move_due {
            (
                "st = :queued",
                "SET st = :sending, attempts = attempts + :one, due_shard = :shard, due_at = :lease, inflight = :yes",
            )
        } else {
            (
                "st = :queued AND due_at >= :lease",
                "SET st = :sending, attempts = attempts + :one, inflight = :yes",
            )
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression(condition)
            .update_expression(update)
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":lease", n(lease_until.as_millisecond()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
        if move_due {
            request = request.expression_attribute_values(":shard", s(keys::shard(id)));
        }
        match request.send().await {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                Ok(Some(Claimed {
                    message: read_doc(&item)?,
                    attempt: read_n(&item, "attempts") as u32 + 1,
                    unsure: matches!(item.get("inflight"), Some(AttributeValue::Bool(true))),
                }))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(sdk_err("claim message", e)),
        }
    }
}

/// Outbox messages in a given state, for operators and tests.
pub async fn outbox_by_status(
    store: &DynamoStore,
    status: &str,
) -> Result<Vec<(OutboxMessage, Option<String>)>, StoreError> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client
            .scan()
            .table_name(&store.table)
            .filter_expression("t = :t AND st = :st")
            .expression_attribute_values(":t", s("outbox"))
            .expression_attribute_values(":st", s(status))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_err("scan outbox", e))?;
        for item in out.items.unwrap_or_default() {
            let error = item.get("last_error").and_then(|v| v.as_s().ok()).cloned();
            found.push((read_doc(&item)?, error));
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    Ok(found)
}

/// When a settled message expires: its time plus `SETTLED_RETENTION`.
fn settled_ttl(c: &Claimed) -> AttributeValue {
    let at = c.message.queued_at;
    n(at.checked_add(waymark_app::ports::SETTLED_RETENTION)
        .unwrap_or(at)
        .as_second())
}

impl DynamoStore {
    /// Puts a parked message back in the queue, attempts from zero (after
    /// the cause was fixed): the stream's `MODIFY` hands it to dispatch.
    /// `false` if it is not parked (any more).
    pub async fn redrive_parked(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let next = now
            .checked_add(waymark_app::ports::REDRIVE_QUEUED)
            .unwrap_or(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("st = :parked")
            .update_expression(
                "SET st = :queued, attempts = :zero, due_shard = :shard, due_at = :due REMOVE last_error, #ttl",
            )
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":parked", s("parked"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":shard", s(keys::shard(id)))
            .expression_attribute_values(":due", n(next.as_millisecond()))
            .send()
            .await;
        applied(result, "redrive parked message")
    }

    /// Hands a still-queued message to dispatch again (a `MODIFY` the
    /// stream delivers): for a message whose stream record was lost.
    /// `false` if it is not queued (sent or settled meanwhile).
    pub async fn touch_queued(&self, id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let next = now
            .checked_add(waymark_app::ports::REDRIVE_QUEUED)
            .unwrap_or(now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(id))
            .key(SK, s(keys::sk::OUTBOX))
            .condition_expression("st = :queued")
            .update_expression("SET due_at = :due")
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":due", n(next.as_millisecond()))
            .send()
            .await;
        applied(result, "touch queued message")
    }
}
