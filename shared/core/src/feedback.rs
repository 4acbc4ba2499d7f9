//! SES feedback → what Waymark does about it. SES publishes sending events
//! (bounce, complaint, delivery, open, click, reject, rendering failure) to
//! EventBridge; each carries the email tags set at send, which name the shop
//! and the outbox message. Pure parsing; the feedback function acts on it.

use crate::ids::{EmailAddress, ShopDomain};
use jiff::Timestamp;
use serde::Deserialize;

/// SES tag values allow letters, digits, `_` and `-`: a shop domain's dots
/// become underscores (domains have none of their own).
pub fn shop_tag(shop: &ShopDomain) -> String {
    shop.as_str().replace('.', "_")
}

pub fn shop_from_tag(tag: &str) -> Option<ShopDomain> {
    ShopDomain::parse(&tag.replace('_', ".")).ok()
}

pub const TAG_SHOP: &str = "waymark_shop";
pub const TAG_MESSAGE: &str = "waymark_message";
pub const TAG_JOURNEY: &str = "waymark_journey";
pub const TAG_VERSION: &str = "waymark_version";
pub const TAG_STEP: &str = "waymark_step";

/// One SES event, reduced to what matters.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub shop: ShopDomain,
    /// The outbox message id (tag), if the mail was Waymark's.
    pub message: Option<String>,
    pub journey: Option<String>,
    /// The journey version and step of the email (tags), if Waymark's.
    pub version: Option<u32>,
    pub step: Option<String>,
    /// SES's own message id.
    pub ses_message_id: String,
    pub at: Timestamp,
    /// When SES accepted the mail.
    pub sent_at: Option<Timestamp>,
    /// The user agent of an open or click.
    pub user_agent: Option<String>,
    pub kind: Kind,
}

impl Feedback {
    /// What the results count for this event, under a fact id unique per
    /// message and measure (an open or click is counted once per message; a
    /// machine's apart): `None` if it counts nothing.
    pub fn counts(&self, zone: &jiff::tz::TimeZone) -> Option<(String, crate::analytics::Counts)> {
        use crate::analytics::{Counts, Key, day, field};
        let journey = self.journey.as_deref()?;
        let measure = match &self.kind {
            Kind::Delivery { .. } => field::DELIVERED,
            Kind::Bounce {
                permanent: true, ..
            } => field::BOUNCED,
            Kind::Complaint { .. } => field::COMPLAINED,
            Kind::Open { .. } if self.machine() => field::MACHINE_OPENED,
            Kind::Open { .. } => field::OPENED,
            Kind::Click { .. } if self.machine() => field::MACHINE_CLICKED,
            Kind::Click { .. } => field::CLICKED,
            _ => return None,
        };
        let key = Key::new(day(self.at, zone), journey, self.version.unwrap_or(0), "");
        let mut counts = Counts::default();
        counts.add_message(&key, self.step.as_deref(), measure, 1);
        Some((format!("{measure}#{}", self.ses_message_id), counts))
    }

    /// Whether this open or click looks like a machine's (its user agent,
    /// or within seconds of the send).
    pub fn machine(&self) -> bool {
        crate::analytics::machine_open(self.user_agent.as_deref(), self.sent_at, self.at)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Permanent bounces suppress; transient ones are only noted.
    Bounce {
        permanent: bool,
        recipients: Vec<EmailAddress>,
    },
    Complaint {
        recipients: Vec<EmailAddress>,
    },
    Delivery {
        recipients: Vec<EmailAddress>,
    },
    Open {
        recipients: Vec<EmailAddress>,
    },
    Click {
        recipients: Vec<EmailAddress>,
        link: String,
    },
    /// Reject, rendering failure, delivery delay, send: logged.
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FeedbackError {
    #[error("not an SES event: {0}")]
    Shape(String),
    /// Mail that Waymark did not send (no shop tag): nothing to do.
    #[error("the mail carries no waymark_shop tag")]
    NotOurs,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: Option<Timestamp>,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "eventType")]
    event_type: String,
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    delivery: Option<Recipients>,
    open: Option<Stamp>,
    click: Option<Click>,
}

#[derive(Deserialize)]
struct Mail {
    timestamp: Option<Timestamp>,
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(default)]
    destination: Vec<String>,
    #[serde(default)]
    tags: std::collections::HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct Bounce {
    #[serde(rename = "bounceType")]
    bounce_type: String,
    #[serde(rename = "bouncedRecipients", default)]
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Complaint {
    #[serde(rename = "complainedRecipients", default)]
    complained_recipients: Vec<Recipient>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Recipient {
    #[serde(rename = "emailAddress")]
    email_address: String,
}

#[derive(Deserialize)]
struct Recipients {
    #[serde(default)]
    recipients: Vec<String>,
    timestamp: Option<Timestamp>,
}

#[derive(Deserialize)]
struct Stamp {
    timestamp: Option<Timestamp>,
    #[serde(rename = "userAgent")]
    user_agent: Option<String>,
}

#[derive(Deserialize)]
struct Click {
    timestamp: Option<Timestamp>,
    #[serde(default)]
    link: String,
    #[serde(rename = "userAgent")]
    user_agent: Option<String>,
}

fn addresses<'a>(raw: impl IntoIterator<Item = &'a String>) -> Vec<EmailAddress> {
    raw.into_iter()
        // "Ana <ana@example.com>" or a bare address.
        .map(|a| {
            a.rsplit_once('<')
                .map_or(a.as_str(), |(_, r)| r.trim_end_matches('>'))
        })
        .filter_map(|a| EmailAddress::parse(a).ok())
        .collect()
}

/// Parses an EventBridge SES event (`source: aws.ses`).
pub fn parse(json: &serde_json::Value) -> Result<Feedback, FeedbackError> {
    let env: Envelope =
        serde_json::from_value(json.clone()).map_err(|e| FeedbackError::Shape(e.to_string()))?;
    let mut d = env.detail;
    let shop = d
        .tag(TAG_SHOP)
        .and_then(|t| shop_from_tag(&t))
        .ok_or(FeedbackError::NotOurs)?;
    let sent_at = d.mail.timestamp;
    let happened = d.happened(&env.detail_type)?;
    let at = happened.at.or(env.time.or(d.mail.timestamp));
    Ok(Feedback {
        shop,
        message: d.tag(TAG_MESSAGE),
        journey: d.tag(TAG_JOURNEY),
        version: d.tag(TAG_VERSION).and_then(|v| v.parse().ok()),
        step: d.tag(TAG_STEP),
        ses_message_id: d.mail.message_id,
        at: at.ok_or_else(|| FeedbackError::Shape("no time in the event".into()))?,
        sent_at,
        user_agent: happened.user_agent,
        kind: happened.kind,
    })
}

/// What the event-type's own part of the detail says.
struct Happened {
    kind: Kind,
    /// Its own time, when it has one (else the envelope's or the mail's).
    at: Option<Timestamp>,
    /// The reader's browser, for opens and clicks.
    user_agent: Option<String>,
}

impl Detail {
    /// The first value of one of the tags Waymark set on the message.
    fn tag(&self, name: &str) -> Option<String> {
        self.mail.tags.get(name).and_then(|v| v.first()).cloned()
    }

    /// Reads (and takes out) the part named by `eventType`.
    fn happened(&mut self, detail_type: &str) -> Result<Happened, FeedbackError> {
        let destination = addresses(&self.mail.destination);
        let mut at = None;
        let mut user_agent = None;
        let kind = match self.event_type.as_str() {
            "Bounce" => {
                let b = self
                    .bounce
                    .take()
                    .ok_or_else(|| FeedbackError::Shape("Bounce without `bounce`".into()))?;
                at = b.timestamp;
                let emails: Vec<String> = b
                    .bounced_recipients
                    .into_iter()
                    .map(|r| r.email_address)
                    .collect();
                Kind::Bounce {
                    permanent: b.bounce_type == "Permanent",
                    recipients: addresses(&emails),
                }
            }
            "Complaint" => {
                let c = self
                    .complaint
                    .take()
                    .ok_or_else(|| FeedbackError::Shape("Complaint without `complaint`".into()))?;
                at = c.timestamp;
                let emails: Vec<String> = c
                    .complained_recipients
                    .into_iter()
                    .map(|r| r.email_address)
                    .collect();
                Kind::Complaint {
                    recipients: addresses(&emails),
                }
            }
            "Delivery" => {
                let r = self.delivery.take();
                at = r.as_ref().and_then(|r| r.timestamp);
                Kind::Delivery {
                    recipients: r.map(|r| addresses(&r.recipients)).unwrap_or(destination),
                }
            }
            "Open" => {
                if let Some(o) = self.open.take() {
                    at = o.timestamp;
                    user_agent = o.user_agent;
                }
                Kind::Open {
                    recipients: destination,
                }
            }
            "Click" => {
                let c = self
                    .click
                    .take()
                    .ok_or_else(|| FeedbackError::Shape("Click without `click`".into()))?;
                at = c.timestamp;
                user_agent = c.user_agent;
                Kind::Click {
                    recipients: destination,
                    link: c.link,
                }
            }
            other => Kind::Other(format!("{other} ({detail_type})")),
        };
        Ok(Happened {
            kind,
            at,
            user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> serde_json::Value {
        let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn shop_tags_round_trip() {
        let shop = ShopDomain::parse("my-shop.myshopify.com").unwrap();
        assert_eq!(shop_tag(&shop), "my-shop_myshopify_com");
        assert_eq!(shop_from_tag(&shop_tag(&shop)), Some(shop));
    }

    #[test]
    fn parses_the_samples() {
        let b = parse(&sample("feedback-bounce.json")).unwrap();
        assert_eq!(b.shop.as_str(), "demo.myshopify.com");
        assert!(
            matches!(&b.kind, Kind::Bounce { permanent: true, recipients } if recipients[0].as_str() == "ana.silva@example.com")
        );
        let c = parse(&sample("feedback-complaint.json")).unwrap();
        assert!(matches!(&c.kind, Kind::Complaint { recipients } if recipients.len() == 1));
        let k = parse(&sample("feedback-click.json")).unwrap();
        assert!(matches!(&k.kind, Kind::Click { link, .. } if link.contains("recover")));
        assert_eq!(k.journey.as_deref(), Some("abandoned_checkout"));
    }

    #[test]
    fn a_scanners_click_is_counted_apart_from_a_persons() {
        let zone = jiff::tz::TimeZone::UTC;
        let measure = |f: &Feedback| f.counts(&zone).unwrap().0;
        let person = parse(&sample("feedback-click.json")).unwrap();
        assert!(measure(&person).starts_with("clicked#"), "{person:?}");
        let mut scanner = person.clone();
        scanner.user_agent = Some("Mimecast URL Protect".into());
        assert!(measure(&scanner).starts_with("machine_clicked#"));
        let mut at_delivery = person.clone();
        at_delivery.at = at_delivery.sent_at.unwrap() + jiff::SignedDuration::from_secs(3);
        assert!(measure(&at_delivery).starts_with("machine_clicked#"));
    }

    #[test]
    fn foreign_mail_and_junk_are_told_apart() {
        let mut foreign = sample("feedback-bounce.json");
        foreign["detail"]["mail"]["tags"] = serde_json::json!({});
        assert!(matches!(parse(&foreign), Err(FeedbackError::NotOurs)));
        assert!(matches!(
            parse(&serde_json::json!({"x": 1})),
            Err(FeedbackError::Shape(_))
        ));
    }
}
