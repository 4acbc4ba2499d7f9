//! DynamoDB's failures as typed storage errors: each keeps its source and
//! says what kind it is (throttled, passing, too large, corrupt, refused), so
//! callers decide retries by kind; conditions and cancelled transactions are
//! read from the error's code and cancellation reasons, never its message.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use waymark_app::ports::{StoreError, StoreErrorKind};

/// Our own (de)serialisation of a stored document failed: the item is not
/// what this version reads.
pub(super) fn store_err<E: std::error::Error + Send + Sync + 'static>(
    what: &str,
) -> impl FnOnce(E) -> StoreError + '_ {
    move |e| StoreError::new(StoreErrorKind::Corrupt, what, e.to_string()).with_source(e)
}

/// An SDK call's failure, classified.
pub(crate) fn sdk_err<E, R>(what: &str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    // The whole chain ("dispatch failure: io error: connection reset…"):
    // the top level alone says only "dispatch failure" or "service error".
    let chain = || format!("{}", DisplayErrorContext(&e));
    let (kind, detail) = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (StoreErrorKind::Transient, chain())
        }
        SdkError::ServiceError(se) => {
            let err = se.err();
            match err.code() {
                Some(code) => (
                    kind_of(code, err.message().unwrap_or("")),
                    format!("{code}: {}", err.message().unwrap_or("")),
                ),
                // An answer that names no error code (a proxy's or load
                // balancer's page): passing, and said in full.
                None => (StoreErrorKind::Transient, chain()),
            }
        }
        _ => (StoreErrorKind::Rejected, chain()),
    };
    StoreError::new(kind, what, detail).with_source(e)
}

/// What an error code (or, for a transaction, a cancellation reason's code)
/// means for a retry.
fn kind_of(code: &str, message: &str) -> StoreErrorKind {
    match code {
        "ProvisionedThroughputExceededException"
        | "ProvisionedThroughputExceeded"
        | "ThrottlingException"
        | "ThrottlingError"
        | "RequestLimitExceeded" => StoreErrorKind::Throttled,
        "InternalServerError" | "ServiceUnavailable" | "TransactionInProgressException" => {
            StoreErrorKind::Transient
        }
        "ItemCollectionSizeLimitExceededException" | "ItemCollectionSizeLimitExceeded" => {
            StoreErrorKind::TooLarge
        }
        // DynamoDB reports an item over 400 KB as a validation error; its
        // text is the only thing that tells it apart.
        "ValidationException" if message.contains("Item size has exceeded") => {
            StoreErrorKind::TooLarge
        }
        _ => StoreErrorKind::Rejected,
    }
}

/// A conditional write found its condition false (someone got there first).
pub(super) fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|se| se.code()) == Some("ConditionalCheckFailedException")
}

/// Whether a conditional write was applied: `false` when its condition
/// failed (someone else's write, or nothing left to do), an error otherwise.
pub(super) fn applied<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    what: &str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(sdk_err(what, e)),
    }
}

/// A transaction cancelled because another writer got there first: a failed
/// condition or a conflicting transaction, read from the cancellation
/// reasons (one per action).
pub(super) fn transaction_conflict<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            c.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_follows_the_kind() {
        assert!(kind_of("ProvisionedThroughputExceededException", "").is_retryable());
        assert!(kind_of("ThrottlingException", "").is_retryable());
        assert!(kind_of("InternalServerError", "").is_retryable());
        assert_eq!(
            kind_of(
                "ValidationException",
                "Item size has exceeded the maximum allowed size"
            ),
            StoreErrorKind::TooLarge
        );
        assert!(
            !kind_of(
                "ValidationException",
                "One or more parameter values were invalid"
            )
            .is_retryable()
        );
        assert!(!kind_of("AccessDeniedException", "").is_retryable());
    }
}
