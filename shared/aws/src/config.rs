//! Configuration read once per cold start: SDK settings from the standard
//! AWS environment (including `AWS_ENDPOINT_URL[_<SERVICE>]`), Waymark's own
//! settings from the function's environment, and secrets from SSM
//! SecureString parameters the environment names (never their values in the
//! environment of a deployed function).

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

/// A setting that must be a positive number; the error names it.
pub fn positive_number(name: &str, raw: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|r| *r > 0.0)
        .ok_or_else(|| format!("{name}: `{raw}` is not a positive number"))
}

/// A secret, resolved once per cold start (the service built from it is
/// kept for the instance's life): the SSM SecureString parameter that
/// `<name>_PARAMETER` names, read with decryption; or, where no parameter is
/// named, the value of `<name>` itself (the local stack, and deployments made
/// before secrets moved to SSM). `None` when neither is there (an optional
/// secret: the previous key outside a rotation).
pub async fn secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> Result<Option<String>, ConfigError> {
    match optional(&format!("{name}_PARAMETER")) {
        None => Ok(optional(name)),
        Some(parameter) => {
            let ssm = aws_sdk_ssm::Client::new(sdk);
            let value = resolve_secret(&ssm, name, &parameter).await?;
            if value.is_none() {
                tracing::info!(secret = name, parameter, "no such parameter: not set");
            }
            Ok(value)
        }
    }
}

/// A secret that must be there (see [`secret`]).
pub async fn required_secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
) -> Result<String, ConfigError> {
    secret(sdk, name).await?.ok_or_else(|| match optional(&format!("{name}_PARAMETER")) {
        Some(parameter) => ConfigError(format!(
            "{name}_PARAMETER `{parameter}`: no such SSM parameter (create it with `aws ssm put-parameter --type SecureString`)"
        )),
        None => ConfigError(format!(
            "neither {name}_PARAMETER (an SSM SecureString parameter's name) nor {name} is set"
        )),
    })
}

/// Reads the SecureString `parameter` for the secret `name`: `None` when
/// there is no such parameter; one that cannot be read, is empty or is not
/// a SecureString is an error naming it (never a fallback to anything else,
/// and never showing a value).
pub async fn resolve_secret(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    parameter: &str,
) -> Result<Option<String>, ConfigError> {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    let fail = |why: String| ConfigError(format!("{name}_PARAMETER `{parameter}`: {why}"));
    let read = match ssm
        .get_parameter()
        .name(parameter)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(read) => read,
        Err(e) if e.code() == Some("ParameterNotFound") => return Ok(None),
        Err(e) => {
            let code = e.code().unwrap_or("unreachable").to_string();
            return Err(fail(format!("could not be read ({code})")));
        }
    };
    let Some(found) = read.parameter() else {
        return Ok(None);
    };
    if found.r#type() != Some(&aws_sdk_ssm::types::ParameterType::SecureString) {
        return Err(fail(
            "is not a SecureString (store secrets encrypted: `--type SecureString`)".into(),
        ));
    }
    match found.value().filter(|v| !v.trim().is_empty()) {
        Some(value) => Ok(Some(value.to_string())),
        None => Err(fail("is empty".into())),
    }
}

/// The link-token secrets: `UNSUBSCRIBE_SECRET` seals new links, and
/// `UNSUBSCRIBE_SECRET_PREVIOUS`, set during a rotation, still opens the
/// links it sealed (drop it 90 days after the rotation). Each is read as a
/// [`secret`].
pub async fn token_keys(
    sdk: &aws_config::SdkConfig,
) -> Result<waymark_core::unsubscribe::TokenKeys, ConfigError> {
    let current = required_secret(sdk, "UNSUBSCRIBE_SECRET").await?;
    let previous = secret(sdk, "UNSUBSCRIBE_SECRET_PREVIOUS").await?;
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
