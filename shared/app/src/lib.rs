//! Services: what each function does with one invocation, written against
//! small ports (traits named for what the domain needs). The DynamoDB and SES
//! adapters live in `waymark-aws`; nothing here knows about AWS or the clock.

pub mod dispatch;
pub mod feedback;
pub mod ingest;
pub mod memory;
pub mod ports;
pub mod preferences;
pub mod process;
pub mod sweep;
pub mod timer;
pub mod track;
