//! Services: what each function does with one invocation, written against
//! small ports (traits named for what the domain needs). The DynamoDB and SES
//! adapters live in `waymark-aws`; nothing here knows about AWS or the clock.

pub mod campaigns;
pub mod dispatch;
pub mod feedback;
pub mod ingest;
/// The in-memory twins of every port (simulator, benches, tests): held to
/// the same contract tests as the DynamoDB adapter, and compiled only
/// where asked for (feature `twin`), never into a function.
#[cfg(any(test, feature = "twin"))]
pub mod memory;
pub mod page_send;
pub mod ports;
pub mod preferences;
pub mod process;
pub mod sweep;
pub mod timer;
pub mod track;
