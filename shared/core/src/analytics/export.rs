//! What of a fact goes to the S3 export (Athena's `events` table): what
//! happened, when, in which shop, and the business values of it (order,
//! amount, products, the journey and link), never who it was. No address,
//! name, customer or contact id, browser id, query string, nor any id
//! derived from the contact (a fact's or a message's id) leaves the table.
//! The order id stays: it is the store's own record, which the platform's
//! own erasure keeps too.

use crate::event::{Event, EventKind, LineItem, Order};
use crate::money::Money;
use serde::Serialize;

/// One row of the events table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub shop: String,
    pub kind: &'static str,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
    /// The amount as a decimal string, and its ISO currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// The journey of the email an open or click belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journey: Option<String>,
    /// A clicked link, a viewed page: scheme, host and path only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub quantity: u32,
    pub price: String,
}

/// The export row of an event; `None` for what is not behaviour (privacy
/// instructions, the product's own reviews).
pub fn event_row(event: &Event) -> Option<EventRow> {
    if event.kind.is_privacy() || matches!(event.kind, EventKind::Reviewed) {
        return None;
    }
    let mut row = EventRow {
        shop: event.shop.to_string(),
        kind: event.kind.name(),
        at: event.at.to_string(),
        order_id: None,
        value: None,
        currency: None,
        products: Vec::new(),
        country: None,
        journey: None,
        url: None,
        page_type: None,
        campaign: None,
        variant: None,
    };
    match &event.kind {
        EventKind::OrderPlaced(o)
        | EventKind::OrderPaid(o)
        | EventKind::OrderCancelled(o)
        | EventKind::OrderFulfilled(o) => order(&mut row, o),
        EventKind::CheckoutUpdated(c) => {
            money(&mut row, c.total.as_ref());
            row.products = products(&c.line_items);
            row.country = c.country.clone();
        }
        EventKind::OrderRefunded(r) => {
            row.order_id = Some(r.order_id);
            money(&mut row, r.amount.as_ref());
        }
        EventKind::EmailOpened(e) | EventKind::EmailClicked(e) => {
            row.journey = e.journey.clone();
            row.url = e.link.as_deref().map(without_query);
        }
        EventKind::CampaignSend(s) => {
            row.campaign = Some(s.campaign.clone());
            row.variant = s.variant.clone();
        }
        EventKind::Site(s) => {
            row.url = s.url.as_deref().map(without_query);
            row.page_type = s.page_type.clone();
            if let Some(p) = &s.product {
                money(&mut row, p.price.as_ref());
                row.products = vec![ProductRow {
                    product_id: p.id,
                    sku: None,
                    quantity: 1,
                    price: p.price.as_ref().map(Money::decimal).unwrap_or_default(),
                }];
            }
        }
        EventKind::SubscriptionBilled(b) => {
            row.order_id = b.order_id;
        }
        _ => {}
    }
    Some(row)
}

fn order(row: &mut EventRow, o: &Order) {
    row.order_id = Some(o.order_id);
    money(row, o.total.as_ref());
    row.products = products(&o.line_items);
    row.country = o.country.clone();
}

fn money(row: &mut EventRow, m: Option<&Money>) {
    if let Some(m) = m {
        row.value = Some(m.decimal());
        row.currency = Some(m.currency.to_string());
    }
}

fn products(items: &[LineItem]) -> Vec<ProductRow> {
    items
        .iter()
        .map(|i| ProductRow {
            product_id: i.product_id,
            sku: i.sku.clone(),
            quantity: i.quantity,
            price: i.price.decimal(),
        })
        .collect()
}

/// A URL without its query and fragment (which may carry an address, a
/// token or a tracking id).
fn without_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Engagement, Source};
    use crate::ids::{EmailAddress, ShopDomain};

    fn event(kind: EventKind) -> Event {
        Event {
            id: "f-1".into(),
            shop: ShopDomain::parse("demo.myshopify.com").unwrap(),
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            source: Source {
                platform: "shopify".into(),
                topic: "t".into(),
                delivery_id: "d".into(),
            },
            kind,
        }
    }

    #[test]
    fn a_click_keeps_its_journey_and_link_but_not_the_person_or_query() {
        let row = event_row(&event(EventKind::EmailClicked(Engagement {
            email: EmailAddress::parse("ana@example.com").unwrap(),
            message: Some("m-1".into()),
            journey: Some("welcome_series".into()),
            link: Some("https://shop.example/p/1?utm_source=x&e=ana@example.com#top".into()),
            machine: false,
        })))
        .unwrap();
        assert_eq!(row.url.as_deref(), Some("https://shop.example/p/1"));
        assert_eq!(row.journey.as_deref(), Some("welcome_series"));
        let text = serde_json::to_string(&row).unwrap();
        for derived in ["ana", "m-1", "f-1"] {
            assert!(!text.contains(derived), "{derived}: {text}");
        }
        assert!(text.contains("\"kind\":\"email_clicked\""), "{text}");
    }

    #[test]
    fn privacy_instructions_and_reviews_are_not_exported() {
        assert!(event_row(&event(EventKind::ShopRedacted)).is_none());
        assert!(event_row(&event(EventKind::Reviewed)).is_none());
    }
}
