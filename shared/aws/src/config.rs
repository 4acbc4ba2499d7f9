//! Configuration read once per cold start: SDK settings from the standard
//! AWS environment (including `AWS_ENDPOINT_URL[_<SERVICE>]`), Waymark's own
//! settings from the function's environment.

use std::env;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

/// Loads the shared SDK configuration (region, credentials, endpoints).
pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A required environment variable, with an error that names it.
pub fn required(name: &str) -> Result<String, ConfigError> {
    env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ConfigError(format!("environment variable {name} is not set")))
}

/// An optional environment variable; empty counts as unset.
pub fn optional(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The link-token secrets: `UNSUBSCRIBE_SECRET` seals new links, and
/// `UNSUBSCRIBE_SECRET_PREVIOUS`, set during a rotation, still opens the
/// links it sealed (drop it 90 days after the rotation).
pub fn token_keys() -> Result<waymark_core::unsubscribe::TokenKeys, ConfigError> {
    let current = required("UNSUBSCRIBE_SECRET")?;
    let previous = optional("UNSUBSCRIBE_SECRET_PREVIOUS");
    let keys = waymark_core::unsubscribe::TokenKeys::new(
        current.as_bytes(),
        previous.as_deref().map(str::as_bytes),
    );
    tracing::info!(
        key = keys.current_id(),
        rotating = previous.is_some(),
        "link-token keys"
    );
    Ok(keys)
}

/// When this invocation must have finished, as the platform says
/// (`Lambda-Runtime-Deadline-Ms`); the wall clock plus a minute only where
/// the runtime gave none.
pub fn deadline(context: &lambda_runtime::Context) -> jiff::Timestamp {
    i64::try_from(context.deadline)
        .ok()
        .filter(|ms| *ms > 0)
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or_else(|| jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1))
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}
