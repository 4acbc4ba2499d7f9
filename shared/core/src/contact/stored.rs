//! The profile as it is stored: one flat JSON object, the shape it had
//! before the profile was grouped by concern. Existing items load and the
//! previous release reads new writes; this mirror must never rename, reorder
//! or drop a field, nor change a `default` or `skip_serializing_if`.
//! (A flat mirror, not `#[serde(flatten)]`: flatten buffers the whole
//! document before decoding it, a fifth slower on the hot path.)

use super::{
    Audience, Commerce, Consent, Contact, Identity, Marketing, Merge, Schedule, Seen,
    SubscriptionState,
};
use crate::activity::Activity;
use crate::ids::{ContactId, EmailAddress, ShopDomain};
use crate::money::Money;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What is read: every field owned, moved into the groups.
#[derive(Deserialize)]
#[serde(rename = "Contact")]
struct Stored {
    id: ContactId,
    shop: ShopDomain,
    customer_id: Option<u64>,
    email: Option<EmailAddress>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default)]
    consent: Option<Consent>,
    profile_at: Option<Timestamp>,
    first_seen_at: Timestamp,
    last_order_at: Option<Timestamp>,
    order_count: u32,
    #[serde(default)]
    ordered_checkouts: Vec<String>,
    #[serde(default)]
    tags: std::collections::BTreeSet<String>,
    #[serde(default)]
    properties: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    score: i64,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    last_engaged_at: Option<Timestamp>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    province: Option<String>,
    #[serde(default)]
    marketing_sent: Vec<Timestamp>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    segments: std::collections::BTreeSet<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    total_spent: Option<Money>,
    #[serde(default)]
    first_order_at: Option<Timestamp>,
    #[serde(default)]
    last_visit_at: Option<Timestamp>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    held: super::Held,
    #[serde(default)]
    anonymous_ids: Vec<String>,
    #[serde(default)]
    past_emails: Vec<EmailAddress>,
    #[serde(default)]
    exports: Vec<String>,
    #[serde(default)]
    merged_from: Vec<Merge>,
    #[serde(default)]
    viewed: Vec<Seen>,
    #[serde(default)]
    bought: Vec<Seen>,
    #[serde(default)]
    interests: std::collections::BTreeSet<String>,
    #[serde(default)]
    activity: Activity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attributed: Vec<crate::analytics::Attributed>,
    #[serde(default)]
    score_at: Option<Timestamp>,
    #[serde(default)]
    stage_at: Option<Timestamp>,
    #[serde(default)]
    lapsed_at: Option<Timestamp>,
    #[serde(default)]
    review_at: Option<Timestamp>,
    #[serde(default)]
    idle_at: Option<Timestamp>,
    #[serde(default)]
    coupons: Vec<crate::coupon::Coupon>,
    #[serde(default)]
    subscriptions: Vec<SubscriptionState>,
    #[serde(default)]
    past_contracts: Vec<u64>,
    #[serde(default)]
    topics_out: std::collections::BTreeSet<String>,
    #[serde(default)]
    opt_in_pending_at: Option<Timestamp>,
    #[serde(default)]
    opted_out_at: Option<Timestamp>,
    #[serde(default)]
    store_tags: std::collections::BTreeSet<String>,
    #[serde(default)]
    rfm: Option<crate::rfm::score::Rfm>,
    #[serde(default)]
    rfm_changes_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merged_into: Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage_by: Option<String>,
    #[serde(default, skip_serializing_if = "crate::history::History::is_empty")]
    history: crate::history::History,
}

/// What is written: every field borrowed from the groups (no copy).
#[derive(Serialize)]
#[serde(rename = "Contact")]
struct StoredRef<'a> {
    id: &'a ContactId,
    shop: &'a ShopDomain,
    customer_id: &'a Option<u64>,
    email: &'a Option<EmailAddress>,
    first_name: &'a Option<String>,
    last_name: &'a Option<String>,
    #[serde(default)]
    consent: &'a Option<Consent>,
    profile_at: &'a Option<Timestamp>,
    first_seen_at: &'a Timestamp,
    last_order_at: &'a Option<Timestamp>,
    order_count: &'a u32,
    #[serde(default)]
    ordered_checkouts: &'a Vec<String>,
    #[serde(default)]
    tags: &'a std::collections::BTreeSet<String>,
    #[serde(default)]
    properties: &'a std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    score: &'a i64,
    #[serde(default)]
    stage: &'a Option<String>,
    #[serde(default)]
    last_engaged_at: &'a Option<Timestamp>,
    #[serde(default)]
    country: &'a Option<String>,
    #[serde(default)]
    province: &'a Option<String>,
    #[serde(default)]
    marketing_sent: &'a Vec<Timestamp>,
    #[serde(default)]
    locale: &'a Option<String>,
    #[serde(default)]
    segments: &'a std::collections::BTreeSet<String>,
    #[serde(default)]
    phone: &'a Option<String>,
    #[serde(default)]
    total_spent: &'a Option<Money>,
    #[serde(default)]
    first_order_at: &'a Option<Timestamp>,
    #[serde(default)]
    last_visit_at: &'a Option<Timestamp>,
    #[serde(default)]
    time_zone: &'a Option<String>,
    #[serde(default, skip_serializing_if = "is_held_empty")]
    held: &'a super::Held,
    #[serde(default)]
    anonymous_ids: &'a Vec<String>,
    #[serde(default)]
    past_emails: &'a Vec<EmailAddress>,
    #[serde(default)]
    exports: &'a Vec<String>,
    #[serde(default)]
    merged_from: &'a Vec<Merge>,
    #[serde(default)]
    viewed: &'a Vec<Seen>,
    #[serde(default)]
    bought: &'a Vec<Seen>,
    #[serde(default)]
    interests: &'a std::collections::BTreeSet<String>,
    #[serde(default)]
    activity: &'a Activity,
    #[serde(default, skip_serializing_if = "is_empty")]
    attributed: &'a Vec<crate::analytics::Attributed>,
    #[serde(default)]
    score_at: &'a Option<Timestamp>,
    #[serde(default)]
    stage_at: &'a Option<Timestamp>,
    #[serde(default)]
    lapsed_at: &'a Option<Timestamp>,
    #[serde(default)]
    review_at: &'a Option<Timestamp>,
    #[serde(default)]
    idle_at: &'a Option<Timestamp>,
    #[serde(default)]
    coupons: &'a Vec<crate::coupon::Coupon>,
    #[serde(default)]
    subscriptions: &'a Vec<SubscriptionState>,
    #[serde(default)]
    past_contracts: &'a Vec<u64>,
    #[serde(default)]
    topics_out: &'a std::collections::BTreeSet<String>,
    #[serde(default)]
    opt_in_pending_at: &'a Option<Timestamp>,
    #[serde(default)]
    opted_out_at: &'a Option<Timestamp>,
    #[serde(default)]
    store_tags: &'a std::collections::BTreeSet<String>,
    #[serde(default)]
    rfm: &'a Option<crate::rfm::score::Rfm>,
    #[serde(default)]
    rfm_changes_at: &'a Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merged_into: &'a Option<ContactId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stage_by: &'a Option<String>,
    #[serde(default, skip_serializing_if = "crate::history::History::is_empty")]
    history: &'a crate::history::History,
}

fn is_held_empty(h: &&super::Held) -> bool {
    h.is_empty()
}

fn is_empty<T>(v: &&Vec<T>) -> bool {
    v.is_empty()
}

impl From<Stored> for Contact {
    fn from(s: Stored) -> Self {
        Contact {
            id: s.id,
            shop: s.shop,
            first_seen_at: s.first_seen_at,
            profile_at: s.profile_at,
            identity: Identity {
                customer_id: s.customer_id,
                email: s.email,
                first_name: s.first_name,
                last_name: s.last_name,
                phone: s.phone,
                anonymous_ids: s.anonymous_ids,
                past_emails: s.past_emails,
                merged_from: s.merged_from,
                merged_into: s.merged_into,
                country: s.country,
                province: s.province,
                locale: s.locale,
                time_zone: s.time_zone,
                held: s.held,
            },
            marketing: Marketing {
                consent: s.consent,
                topics_out: s.topics_out,
                opt_in_pending_at: s.opt_in_pending_at,
                opted_out_at: s.opted_out_at,
                marketing_sent: s.marketing_sent,
            },
            commerce: Commerce {
                order_count: s.order_count,
                first_order_at: s.first_order_at,
                last_order_at: s.last_order_at,
                total_spent: s.total_spent,
                ordered_checkouts: s.ordered_checkouts,
                viewed: s.viewed,
                bought: s.bought,
                coupons: s.coupons,
                subscriptions: s.subscriptions,
                past_contracts: s.past_contracts,
                attributed: s.attributed,
            },
            audience: Audience {
                tags: s.tags,
                store_tags: s.store_tags,
                properties: s.properties,
                score: s.score,
                score_at: s.score_at,
                stage: s.stage,
                stage_at: s.stage_at,
                stage_by: s.stage_by,
                segments: s.segments,
                interests: s.interests,
                rfm: s.rfm,
                rfm_changes_at: s.rfm_changes_at,
                activity: s.activity,
                last_engaged_at: s.last_engaged_at,
                last_visit_at: s.last_visit_at,
                lapsed_at: s.lapsed_at,
            },
            schedule: Schedule {
                review_at: s.review_at,
                idle_at: s.idle_at,
            },
            exports: s.exports,
            history: s.history,
        }
    }
}

impl<'a> From<&'a Contact> for StoredRef<'a> {
    fn from(c: &'a Contact) -> Self {
        StoredRef {
            id: &c.id,
            shop: &c.shop,
            customer_id: &c.identity.customer_id,
            email: &c.identity.email,
            first_name: &c.identity.first_name,
            last_name: &c.identity.last_name,
            consent: &c.marketing.consent,
            profile_at: &c.profile_at,
            first_seen_at: &c.first_seen_at,
            last_order_at: &c.commerce.last_order_at,
            order_count: &c.commerce.order_count,
            ordered_checkouts: &c.commerce.ordered_checkouts,
            tags: &c.audience.tags,
            properties: &c.audience.properties,
            score: &c.audience.score,
            stage: &c.audience.stage,
            last_engaged_at: &c.audience.last_engaged_at,
            country: &c.identity.country,
            province: &c.identity.province,
            marketing_sent: &c.marketing.marketing_sent,
            locale: &c.identity.locale,
            segments: &c.audience.segments,
            phone: &c.identity.phone,
            total_spent: &c.commerce.total_spent,
            first_order_at: &c.commerce.first_order_at,
            last_visit_at: &c.audience.last_visit_at,
            time_zone: &c.identity.time_zone,
            held: &c.identity.held,
            anonymous_ids: &c.identity.anonymous_ids,
            past_emails: &c.identity.past_emails,
            exports: &c.exports,
            merged_from: &c.identity.merged_from,
            viewed: &c.commerce.viewed,
            bought: &c.commerce.bought,
            interests: &c.audience.interests,
            activity: &c.audience.activity,
            attributed: &c.commerce.attributed,
            score_at: &c.audience.score_at,
            stage_at: &c.audience.stage_at,
            lapsed_at: &c.audience.lapsed_at,
            review_at: &c.schedule.review_at,
            idle_at: &c.schedule.idle_at,
            coupons: &c.commerce.coupons,
            subscriptions: &c.commerce.subscriptions,
            past_contracts: &c.commerce.past_contracts,
            topics_out: &c.marketing.topics_out,
            opt_in_pending_at: &c.marketing.opt_in_pending_at,
            opted_out_at: &c.marketing.opted_out_at,
            store_tags: &c.audience.store_tags,
            rfm: &c.audience.rfm,
            rfm_changes_at: &c.audience.rfm_changes_at,
            merged_into: &c.identity.merged_into,
            stage_by: &c.audience.stage_by,
            history: &c.history,
        }
    }
}

impl Serialize for Contact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        StoredRef::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Contact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Stored::deserialize(d).map(Contact::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The profile's fields as the flat struct named them, in its order
    /// (taken from `Contact` before it was grouped).
    const FLAT_FIELDS: [&str; 53] = [
        "id",
        "shop",
        "customer_id",
        "email",
        "first_name",
        "last_name",
        "consent",
        "profile_at",
        "first_seen_at",
        "last_order_at",
        "order_count",
        "ordered_checkouts",
        "tags",
        "properties",
        "score",
        "stage",
        "last_engaged_at",
        "country",
        "province",
        "marketing_sent",
        "locale",
        "segments",
        "phone",
        "total_spent",
        "first_order_at",
        "last_visit_at",
        "time_zone",
        "anonymous_ids",
        "past_emails",
        "exports",
        "merged_from",
        "viewed",
        "bought",
        "interests",
        "activity",
        "attributed",
        "score_at",
        "stage_at",
        "lapsed_at",
        "review_at",
        "idle_at",
        "coupons",
        "subscriptions",
        "past_contracts",
        "topics_out",
        "opt_in_pending_at",
        "opted_out_at",
        "store_tags",
        "rfm",
        "rfm_changes_at",
        "merged_into",
        "stage_by",
        "history",
    ];

    /// A profile with every field set, as the flat struct wrote it.
    const OLD_DOCUMENT: &str = r#"{
        "id": "cust-7", "shop": "demo.myshopify.com", "customer_id": 7,
        "email": "ana@example.com", "first_name": "Ana", "last_name": "Lee",
        "consent": {"subscribed": true, "source": "signup_form", "at": "2026-04-01T00:00:00Z"},
        "profile_at": "2026-05-01T00:00:00Z", "first_seen_at": "2025-12-01T00:00:00Z",
        "last_order_at": "2026-03-01T00:00:00Z", "order_count": 3,
        "ordered_checkouts": ["tok-1"], "tags": ["vip"], "properties": {"size": "M"},
        "score": 42, "stage": "customer", "last_engaged_at": "2026-04-02T00:00:00Z",
        "country": "CA", "province": "QC", "marketing_sent": ["2026-04-03T00:00:00Z"],
        "locale": "fr", "segments": ["buyers"], "phone": "+15145550000",
        "total_spent": {"amount_minor": 3550, "currency": "EUR"},
        "first_order_at": "2026-02-01T00:00:00Z", "last_visit_at": "2026-04-04T00:00:00Z",
        "time_zone": "America/Toronto", "anonymous_ids": ["anon-1"],
        "past_emails": ["ana.work@example.com"], "exports": ["export-1"],
        "merged_from": [{"contact": "cust-8", "at": "2026-01-02T00:00:00Z"}],
        "viewed": [{"product_id": 1, "title": "Scarf", "category": "scarves", "price": {"amount_minor": 3990, "currency": "EUR"}, "url": "https://shop.example/p/1", "image": "https://cdn.example/1.jpg", "at": "2026-04-04T00:00:00Z"}],
        "bought": [{"product_id": 2, "title": "Beanie", "category": null, "price": null, "url": null, "image": null, "at": "2026-03-01T00:00:00Z"}],
        "interests": ["knitting"], "activity": {"order_placed": [{"d": 20513, "n": 1, "sum": 6600}]},
        "attributed": [{"order_id": 11, "touch": {"journey": "welcome", "version": 2, "step": "email_1", "at": "2026-02-28T00:00:00Z", "clicked": true}, "currency": "EUR", "remaining": 6600}],
        "score_at": "2026-04-05T00:00:00Z", "stage_at": "2026-03-01T00:00:00Z",
        "lapsed_at": "2026-04-06T00:00:00Z", "review_at": "2026-06-01T00:00:00Z",
        "idle_at": "2026-07-01T00:00:00Z",
        "coupons": [{"name": "thanks", "code": "THANKS-1", "discount": "10%", "journey": "welcome", "issued_at": "2026-03-02T00:00:00Z", "expires_at": "2026-04-02T00:00:00Z", "used_at": null}],
        "subscriptions": [{"contract_id": 5, "status": "paused", "interval": {"unit": "month", "count": 1}, "billed_at": "2026-03-05T00:00:00Z", "cycles": 2, "changed_at": "2026-03-06T00:00:00Z"}],
        "past_contracts": [4], "topics_out": ["news"], "opt_in_pending_at": "2026-03-07T00:00:00Z",
        "opted_out_at": "2026-03-08T00:00:00Z", "store_tags": ["vip"],
        "rfm": {"r": 5, "f": 4, "m": 3}, "rfm_changes_at": "2026-05-08T00:00:00Z",
        "merged_into": "cust-9", "stage_by": "welcome",
        "history": [{"j": "welcome", "k": "", "e": 1, "at": "2026-01-05T00:00:00Z"}]
    }"#;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_stored_document_is_flat_with_the_fields_it_always_had() {
        let contact: Contact = serde_json::from_str(OLD_DOCUMENT).unwrap();
        let json = serde_json::to_string(&contact).unwrap();
        // In the flat struct's order, so a write is the same bytes as before.
        let written: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&json).unwrap();
        let names: Vec<&str> = written.keys().map(String::as_str).collect();
        let mut sorted = FLAT_FIELDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let mut at = 0;
        for name in FLAT_FIELDS {
            let i = json[at..].find(&format!("\"{name}\":")).expect(name);
            at += i;
        }
        // Every value as the old document had it (`null`s written back).
        let old: serde_json::Value = serde_json::from_str(OLD_DOCUMENT).unwrap();
        assert_eq!(serde_json::Value::Object(written), old);
    }

    #[test]
    fn held_lookups_are_kept_and_absent_when_none() {
        let mut c: Contact = serde_json::from_str(OLD_DOCUMENT).unwrap();
        assert!(c.identity.held.is_empty());
        assert!(!serde_json::to_string(&c).unwrap().contains("held"));
        c.identity.held = super::super::Held {
            email: Some("ana@example.com".into()),
            customer_id: Some(7),
        };
        let back: Contact = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.identity.held, c.identity.held);
    }

    #[test]
    fn a_document_written_flat_loads_into_the_groups() {
        let c: Contact = serde_json::from_str(OLD_DOCUMENT).unwrap();
        assert_eq!(c.id, ContactId::for_customer(7));
        assert_eq!(c.shop.as_str(), "demo.myshopify.com");
        assert_eq!(c.first_seen_at, t("2025-12-01T00:00:00Z"));
        assert_eq!(c.profile_at, Some(t("2026-05-01T00:00:00Z")));
        assert_eq!(c.exports, ["export-1"]);
        assert_eq!(c.history.len(), 1);

        let i = &c.identity;
        assert_eq!(i.customer_id, Some(7));
        assert_eq!(
            i.email.as_ref().map(|e| e.as_str()),
            Some("ana@example.com")
        );
        assert_eq!(i.first_name.as_deref(), Some("Ana"));
        assert_eq!(i.last_name.as_deref(), Some("Lee"));
        assert_eq!(i.phone.as_deref(), Some("+15145550000"));
        assert_eq!(i.anonymous_ids, ["anon-1"]);
        assert_eq!(i.past_emails[0].as_str(), "ana.work@example.com");
        assert_eq!(i.merged_from[0].contact, ContactId::for_customer(8));
        assert_eq!(i.merged_into, Some(ContactId::for_customer(9)));
        assert_eq!(
            (i.country.as_deref(), i.province.as_deref()),
            (Some("CA"), Some("QC"))
        );
        assert_eq!(i.locale.as_deref(), Some("fr"));
        assert_eq!(i.time_zone.as_deref(), Some("America/Toronto"));

        let m = &c.marketing;
        assert!(c.accepts_marketing());
        assert_eq!(m.consent.as_ref().unwrap().at, t("2026-04-01T00:00:00Z"));
        assert!(m.topics_out.contains("news"));
        assert_eq!(m.opt_in_pending_at, Some(t("2026-03-07T00:00:00Z")));
        assert_eq!(m.opted_out_at, Some(t("2026-03-08T00:00:00Z")));
        assert_eq!(m.marketing_sent, [t("2026-04-03T00:00:00Z")]);

        let o = &c.commerce;
        assert_eq!(o.order_count, 3);
        assert_eq!(o.first_order_at, Some(t("2026-02-01T00:00:00Z")));
        assert_eq!(o.last_order_at, Some(t("2026-03-01T00:00:00Z")));
        assert_eq!(o.total_spent, Some(Money::parse("35.50", "EUR").unwrap()));
        assert_eq!(o.ordered_checkouts, ["tok-1"]);
        assert_eq!(o.viewed[0].product_id, Some(1));
        assert_eq!(o.bought[0].title.as_deref(), Some("Beanie"));
        assert_eq!(o.coupons[0].code, "THANKS-1");
        assert_eq!(o.subscriptions[0].contract_id, 5);
        assert!(!o.subscriptions[0].is_active());
        assert_eq!(o.past_contracts, [4]);
        assert_eq!(o.attributed[0].order_id, 11);

        let a = &c.audience;
        assert!(a.tags.contains("vip") && a.store_tags.contains("vip"));
        assert_eq!(a.properties["size"], "M");
        assert_eq!((a.score, a.score_at), (42, Some(t("2026-04-05T00:00:00Z"))));
        assert_eq!(a.stage.as_deref(), Some("customer"));
        assert_eq!(a.stage_at, Some(t("2026-03-01T00:00:00Z")));
        assert_eq!(a.stage_by.as_deref(), Some("welcome"));
        assert!(a.segments.contains("buyers") && a.interests.contains("knitting"));
        assert_eq!(a.rfm.as_ref().map(|r| (r.r, r.f, r.m)), Some((5, 4, 3)));
        assert_eq!(a.rfm_changes_at, Some(t("2026-05-08T00:00:00Z")));
        assert_eq!(a.activity.keys(), 1);
        assert_eq!(a.last_engaged_at, Some(t("2026-04-02T00:00:00Z")));
        assert_eq!(a.last_visit_at, Some(t("2026-04-04T00:00:00Z")));
        assert_eq!(a.lapsed_at, Some(t("2026-04-06T00:00:00Z")));

        assert_eq!(c.schedule.review_at, Some(t("2026-06-01T00:00:00Z")));
        assert_eq!(c.schedule.idle_at, Some(t("2026-07-01T00:00:00Z")));
    }

    #[test]
    fn a_new_profile_writes_what_the_flat_struct_wrote() {
        // The fields skipped when empty stay out; the others are written.
        let c = Contact::new(
            ContactId::for_customer(7),
            ShopDomain::parse("demo.myshopify.com").unwrap(),
            t("2026-01-01T00:00:00Z"),
        );
        let written = serde_json::to_value(&c).unwrap();
        let names: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = FLAT_FIELDS
            .into_iter()
            .filter(|f| !["attributed", "merged_into", "stage_by", "history"].contains(f))
            .collect();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert_eq!(serde_json::from_value::<Contact>(written).unwrap(), c);
    }
}
