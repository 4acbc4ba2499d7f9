//! What the benches share: the bundled templates with one journey of the
//! bench's own, and a customer signing up.

use jiff::Timestamp;
use waymark_core::event::{Customer, Event, EventKind, Source};
use waymark_core::ids::{EmailAddress, ShopDomain};
use waymark_core::journey::{Catalog, ContentFile};

/// The bundled templates and `journey` (a journey file's text).
pub fn catalog_with(journey: &str) -> Catalog {
    let mut files: Vec<ContentFile> = waymark_content::files()
        .into_iter()
        .filter(|f| f.path.starts_with("templates/"))
        .collect();
    files.push(ContentFile {
        path: "journeys/bench.yaml".into(),
        text: journey.into(),
    });
    Catalog::from_files(&files).expect("bench journey is valid")
}

/// Customer `i` of `shop` signs up at `at`, accepting marketing.
pub fn signup(shop: &ShopDomain, i: u64, at: Timestamp) -> Event {
    Event {
        id: format!("e{i}"),
        shop: shop.clone(),
        at,
        source: Source {
            platform: "bench".into(),
            topic: "customers/create".into(),
            delivery_id: format!("d{i}"),
        },
        kind: EventKind::CustomerUpserted(Customer {
            customer_id: i,
            email: Some(EmailAddress::parse(&format!("c{i}@example.com")).unwrap()),
            first_name: Some("Ana".into()),
            last_name: None,
            accepts_marketing: Some(true),
            country: None,
            province: None,
            tags: vec![],
            phone: None,
            opted_out: false,
        }),
    }
}
