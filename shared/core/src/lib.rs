//! Waymark's pure core: everything that decides something.
//!
//! Parsing and normalising webhooks, contact profiles, the journey step
//! function and email rendering live here as plain functions over plain data.
//! This crate must never perform I/O or read the wall clock: time arrives as
//! an argument, and effects leave as values for an adapter to perform.

pub mod activity;
pub mod contact;
pub mod coupon;
pub mod email;
pub mod event;
pub mod feedback;
pub mod hmac;
pub mod ids;
pub mod journey;
pub mod money;
pub mod outbox;
pub mod ratelimit;
pub mod rfm;
pub mod sending;
pub mod shopify;
pub mod site;
pub mod time;
pub mod unsubscribe;

pub use jiff::Timestamp;
