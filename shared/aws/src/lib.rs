//! Adapters from Waymark's ports to AWS: one DynamoDB table (see the access
//! patterns in ARCHITECTURE.md), SES v2, and the Lambda event shapes. Only the
//! endpoint differs between AWS and the local emulator (`AWS_ENDPOINT_URL`);
//! there is no other local-mode switch, and must never be.

pub mod config;
pub mod doc;
pub mod events;
pub mod export;
pub mod keys;
pub mod metrics;
pub mod pages;
pub mod ses;
pub mod store;
pub mod stream;
