//! A transaction tried again in place when it met another one.

use super::errors::sdk_err;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use waymark_app::ports::StoreError;

/// Times a transaction is sent again after meeting another on one of its
/// items (a campaign item many workers finish pages on).
pub(super) const CONFLICT_TRIES: u32 = 6;

/// What became of a transaction that did not fail.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Transacted {
    Applied,
    /// One of its conditions did not hold: nothing was written.
    ConditionFailed,
}

/// Sends `writes` as one transaction. DynamoDB cancels one of two
/// transactions that meet on an item, and the SDK does not retry that: it
/// is sent again here, after waits that double and that `spread` (a page
/// number, a message's hash) sets apart for writers side by side.
pub(super) async fn transact(
    client: &Client,
    writes: Vec<TransactWriteItem>,
    what: &str,
    spread: u64,
) -> Result<Transacted, StoreError> {
    let mut attempt = 0u32;
    loop {
        let result = client
            .transact_write_items()
            .set_transact_items(Some(writes.clone()))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(Transacted::Applied),
            Err(e) if cancelled_for(&e, "ConditionalCheckFailed") => {
                return Ok(Transacted::ConditionFailed);
            }
            Err(e) if cancelled_for(&e, "TransactionConflict") && attempt < CONFLICT_TRIES => {
                attempt += 1;
                let wait = 10 * (1u64 << attempt) * (1 + spread % 4);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            Err(e) => return Err(sdk_err(what, e)),
        }
    }
}

/// Whether the transaction was cancelled, one of its actions for `code`.
fn cancelled_for<R>(e: &SdkError<TransactWriteItemsError, R>, code: &str) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some(code)),
        _ => false,
    }
}
