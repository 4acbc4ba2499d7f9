//! The local stack, read from the same infrastructure template as a deploy:
//! `template` reads it, `resources` creates its tables and identities on the
//! emulator, `runner` plays its event sources (stream → function, schedule →
//! function) against whatever serves the functions. Never used in production.

pub mod control;
pub mod filter;
pub mod forward;
pub mod mailbox;
pub mod moto;
pub mod resources;
pub mod runner;
pub mod template;
