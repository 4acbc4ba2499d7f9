//! A contact's RFM scores (1–5 each) and the named cell they fall in: the
//! value the profile keeps. Computing them from the profile is the parent
//! module's; this one never reads a contact.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfm {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

/// The named cells, first match wins (on R and F, as is usual).
pub const CELLS: [&str; 10] = [
    "champions",
    "loyal",
    "new_customers",
    "promising",
    "potential_loyalists",
    "cant_lose",
    "at_risk",
    "about_to_sleep",
    "hibernating",
    "lost",
];

impl Rfm {
    pub fn cell(self) -> &'static str {
        let Self { r, f, .. } = self;
        match (r, f) {
            (4.., 4..) => "champions",
            (3.., 3..) => "loyal",
            (5, 1) => "new_customers",
            (4, 1) => "promising",
            (3.., _) => "potential_loyalists",
            (1, 4..) => "cant_lose",
            (_, 3..) => "at_risk",
            (2, _) => "about_to_sleep",
            (1, 2) => "hibernating",
            _ => "lost",
        }
    }
}
