//! `waymark templates …`: renders templates before they are deployed.
//! `check` renders every template with sample data shaped like what its
//! journeys will give it (the fixtures in events/shopify), so a typo in a
//! variable is a file:line error in CI rather than a parked message in
//! production; `preview` writes one rendering to files a person can open.

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use waymark_core::contact::Contact;
use waymark_core::email::Renderer;
use waymark_core::event::EventKind;
use waymark_core::ids::{ContactId, EmailAddress, ShopDomain};
use waymark_core::journey::{Catalog, Run, StepKind};
use waymark_core::outbox::OutboxMessage;
use waymark_core::shopify::{self, Delivery, Topic};

#[derive(Subcommand)]
pub enum Templates {
    /// Renders every template against sample data; reports file, line and
    /// problem; non-zero exit on any.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Renders one template to HTML and text files.
    Preview {
        template: String,
        /// JSON with the contact's fields: {"first_name": …, "last_name": …, "email": …}.
        #[arg(long)]
        contact: Option<PathBuf>,
        /// A Shopify webhook payload (checkout, order or customer) the email is about.
        #[arg(long)]
        event: Option<PathBuf>,
        /// The payload's topic (inferred from its fields when left out).
        #[arg(long)]
        topic: Option<String>,
        /// Where the files go.
        #[arg(long, default_value = "target/preview")]
        out: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

fn parse_payload(topic: &str, body: &[u8]) -> Result<EventKind> {
    let shop = ShopDomain::parse("demo.myshopify.com")?;
    let topic = Topic::parse(topic).ok_or_else(|| anyhow!("unknown topic `{topic}`"))?;
    let delivery = Delivery {
        shop: &shop,
        topic,
        webhook_id: "preview",
        triggered_at: Some("2026-11-23T10:00:00Z".parse()?),
        body,
    };
    Ok(shopify::parse(&delivery)?.kind)
}

fn fixture(root: &Path, file: &str, topic: &str) -> Result<EventKind> {
    let path = root.join("events/shopify").join(file);
    let body = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_payload(topic, &body)
}

/// A storefront event shaped like the snippet's (the `events/` sample):
/// a product view that also names a topic, so every site template's
/// variables are there.
fn site_sample(root: &Path) -> Result<EventKind> {
    let path = root.join("events/ingest-track.json");
    // Without the sample (a trimmed checkout), a product view like it.
    let url: serde_json::Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)?,
        Err(_) => {
            serde_json::json!({"body": r#"{"batch":[{"type":"product_viewed","id":"s1","anonymous_id":"a1","product":{"id":1,"title":"Merino scarf","category":"Scarves","price":"39.90","currency":"EUR","url":"https://example.com/p/1"}}]}"#})
        }
    };
    let body = url["body"].as_str().unwrap_or_default();
    let shop = ShopDomain::parse("demo.myshopify.com")?;
    let links = waymark_core::site::Links::Anywhere;
    let batch =
        waymark_core::site::parse(&shop, links, body.as_bytes(), jiff::Timestamp::now(), None)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut kind = batch
        .events
        .into_iter()
        .next()
        .map(|e| e.kind)
        .context("the tracking sample has no events")?;
    if let EventKind::Site(s) = &mut kind {
        s.topic = Some("knitting".into());
    }
    Ok(kind)
}

fn sample_contact(first_name: Option<&str>, email: &str) -> Result<Contact> {
    let mut c = Contact::new(
        ContactId::for_customer(1),
        ShopDomain::parse("demo.myshopify.com")?,
        "2026-11-23T10:00:00Z".parse()?,
    );
    c.identity.first_name = first_name.map(Into::into);
    c.identity.last_name = Some("Silva".into());
    c.identity.email = Some(EmailAddress::parse(email)?);
    Ok(c)
}

/// The coupons the catalog's journeys give, as sample codes, so templates
/// that show them render.
fn give_sample_coupons(catalog: &Catalog, contact: &mut Contact) {
    for step in catalog.journeys().iter().flat_map(|d| &d.steps) {
        let StepKind::Coupon(spec) = &step.kind else {
            continue;
        };
        let at = contact.first_seen_at;
        contact.give_coupon(waymark_core::coupon::Coupon {
            name: spec.name.clone(),
            code: format!("{}-SAMPLE0000", spec.prefix),
            discount: spec.discount.clone(),
            journey: "sample".into(),
            issued_at: at,
            expires_at: waymark_core::coupon::expiry(at, spec.valid_for.0),
            used_at: None,
        });
    }
}

/// The parameters dispatch would render `template` with, for a run started
/// by `trigger` (and having matched `matched`).
fn params(
    contact: &Contact,
    trigger: EventKind,
    matched: Option<EventKind>,
    marketing: bool,
) -> serde_json::Value {
    let run = Run {
        matched,
        ..Run::new(
            "preview".into(),
            1,
            "contact".into(),
            0,
            trigger,
            contact.first_seen_at,
        )
    };
    let mut p = OutboxMessage::for_step(contact, &run, "preview", 0, "preview", !marketing)
        .map(|m| m.params)
        .unwrap_or_default();
    if marketing {
        p["unsubscribe_url"] = "https://example.com/unsubscribe?t=preview".into();
    }
    p["confirm_url"] = "https://example.com/confirm?t=preview".into();
    p
}

fn load(root: &Path) -> Result<Option<Catalog>> {
    let files = crate::content::read_tree(root)
        .with_context(|| format!("reading content under {}", root.display()))?;
    match Catalog::from_files(&files) {
        Ok(c) => Ok(Some(c)),
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            Ok(None)
        }
    }
}

pub fn templates(cmd: Templates) -> Result<ExitCode> {
    match cmd {
        Templates::Check { root } => check(&root),
        Templates::Preview {
            template,
            contact,
            event,
            topic,
            out,
            root,
        } => {
            let Some(catalog) = load(&root)? else {
                return Ok(ExitCode::FAILURE);
            };
            if catalog.template(&template).is_none() {
                bail!("no template `{template}` in {}/templates", root.display());
            }
            let c = preview_contact(&catalog, contact.as_deref())?;
            let trigger = match &event {
                Some(p) => read_event(p, topic)?,
                None => fixture(&root, "checkouts_create.json", "checkouts/create")?,
            };
            let matched = match &trigger {
                EventKind::OrderFulfilled(_) => Some(trigger.clone()),
                _ => None,
            };
            let rendered = Renderer::for_catalog(&catalog)
                .render(&template, &params(&c, trigger, matched, true))
                .map_err(|e| anyhow!("{e}"))?;
            write_preview(&out, &template, &rendered)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The contact a preview is for: the one in `contact` (JSON with
/// `first_name`, `last_name`, `email`), else a sample; with sample coupons.
fn preview_contact(catalog: &Catalog, contact: Option<&Path>) -> Result<Contact> {
    let who: serde_json::Value = match contact {
        Some(p) => serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )?,
        None => serde_json::json!({"first_name": "Ana", "email": "ana.silva@example.com"}),
    };
    let mut c = sample_contact(
        who["first_name"].as_str(),
        who["email"].as_str().unwrap_or("ana.silva@example.com"),
    )?;
    c.identity.last_name = who["last_name"].as_str().map(Into::into);
    give_sample_coupons(catalog, &mut c);
    Ok(c)
}

/// A payload file as the event of `topic`, or of the topic its shape says.
fn read_event(path: &Path, topic: Option<String>) -> Result<EventKind> {
    let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    let topic = topic.unwrap_or_else(|| guess_topic(&v).into());
    parse_payload(&topic, &body)
}

/// The topic a Shopify payload most likely came with.
fn guess_topic(v: &serde_json::Value) -> &'static str {
    if v.get("abandoned_checkout_url").is_some()
        || v.get("token").is_some() && v.get("order_number").is_none()
    {
        "checkouts/update"
    } else if v
        .get("fulfillments")
        .is_some_and(|f| f.as_array().is_some_and(|a| !a.is_empty()))
    {
        "orders/fulfilled"
    } else if v.get("order_number").is_some() || v.get("financial_status").is_some() {
        "orders/create"
    } else {
        "customers/update"
    }
}

/// Writes `<template>.html` and `<template>.txt` into `out`, and says where.
fn write_preview(
    out: &Path,
    template: &str,
    rendered: &waymark_core::email::Rendered,
) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let html = out.join(format!("{template}.html"));
    let text = out.join(format!("{template}.txt"));
    std::fs::write(&html, &rendered.html)?;
    std::fs::write(
        &text,
        format!("Subject: {}\n\n{}", rendered.subject, rendered.text),
    )?;
    println!(
        "Subject: {}\n{}\n{}",
        rendered.subject,
        html.display(),
        text.display()
    );
    Ok(())
}

/// Renders `template` for a sample contact (or the one in `contact`, JSON
/// with `first_name`, `last_name`, `email`) about the sample checkout: what
/// a campaign preview shows.
pub(crate) fn render_for(
    catalog: &Catalog,
    root: &Path,
    template: &str,
    contact: Option<&Path>,
) -> Result<waymark_core::email::Rendered> {
    if catalog.template(template).is_none() {
        bail!("no template `{template}` in {}/templates", root.display());
    }
    let c = preview_contact(catalog, contact)?;
    let trigger = fixture(root, "checkouts_create.json", "checkouts/create")?;
    Renderer::for_catalog(catalog)
        .render(template, &params(&c, trigger, None, true))
        .map_err(|e| anyhow!("{e}"))
}

/// A campaign's subject override, rendered with the same contact and sample
/// trigger as `render_for`.
pub(crate) fn render_subject_for(
    catalog: &Catalog,
    root: &Path,
    subject: &str,
    contact: Option<&Path>,
) -> Result<String> {
    let c = preview_contact(catalog, contact)?;
    let trigger = fixture(root, "checkouts_create.json", "checkouts/create")?;
    Renderer::for_catalog(catalog)
        .render_line(subject, &params(&c, trigger, None, true))
        .map_err(|e| anyhow!("subject `{subject}`: {e}"))
}

/// Sample events for each kind of trigger, read from `events/`.
struct Samples {
    by_trigger: BTreeMap<&'static str, EventKind>,
    contract: EventKind,
    billed: EventKind,
    fulfilled: EventKind,
    site: EventKind,
}

impl Samples {
    fn read(root: &std::path::Path) -> Result<Self> {
        let contract = fixture(
            root,
            "subscription_contracts_create.json",
            "subscription_contracts/create",
        )?;
        let billed = fixture(
            root,
            "subscription_billing_attempts_success.json",
            "subscription_billing_attempts/success",
        )?;
        let by_trigger = BTreeMap::from([
            ("subscription_billed", billed.clone()),
            (
                "checkout_updated",
                fixture(root, "checkouts_create.json", "checkouts/create")?,
            ),
            (
                "order_placed",
                fixture(root, "orders_create.json", "orders/create")?,
            ),
            (
                "customer_upserted",
                fixture(root, "customers_create.json", "customers/create")?,
            ),
        ]);
        Ok(Self {
            by_trigger,
            contract,
            billed,
            fulfilled: fixture(root, "orders_fulfilled.json", "orders/fulfilled")?,
            site: site_sample(root)?,
        })
    }

    /// Ana (a name, a browsing history) and a nameless contact, both with
    /// coupons and a monthly subscription billed once.
    fn contacts(&self, catalog: &Catalog) -> Result<[Contact; 2]> {
        let event = |contact: &Contact, id: String, platform: &str, kind: &EventKind| {
            waymark_core::event::Event {
                id,
                shop: contact.shop.clone(),
                at: contact.first_seen_at,
                source: waymark_core::event::Source {
                    platform: platform.into(),
                    topic: "sample".into(),
                    delivery_id: "sample".into(),
                },
                kind: kind.clone(),
            }
        };
        let mut ana = sample_contact(Some("Ana"), "ana.silva@example.com")?;
        // A browsing history, so templates that list viewed products loop.
        ana.apply(&event(&ana, "sample-view".into(), "site", &self.site));
        let mut nameless = sample_contact(None, "someone@example.com")?;
        for contact in [&mut ana, &mut nameless] {
            give_sample_coupons(catalog, contact);
            for (n, kind) in [&self.contract, &self.billed].into_iter().enumerate() {
                let e = event(contact, format!("sample-subscription-{n}"), "shopify", kind);
                contact.apply(&e);
            }
        }
        Ok([ana, nameless])
    }

    /// Every use of each template, with data shaped like its journey's:
    /// (trigger, the event a `wait_for` matched, whether it is marketing).
    fn uses(&self, catalog: &Catalog) -> BTreeMap<String, Vec<Use>> {
        let mut uses: BTreeMap<String, Vec<Use>> = BTreeMap::new();
        for d in catalog.journeys() {
            let site_trigger = matches!(
                d.trigger.event.as_str(),
                "page_viewed"
                    | "product_viewed"
                    | "added_to_cart"
                    | "searched"
                    | "form_submitted"
                    | "identified"
                    | "custom_event"
            );
            let trigger = self
                .by_trigger
                .get(d.trigger.event.as_str())
                .cloned()
                .or_else(|| site_trigger.then(|| self.site.clone()))
                .unwrap_or_else(|| self.by_trigger["customer_upserted"].clone());
            let waits = d
                .steps
                .iter()
                .any(|s| matches!(s.kind, StepKind::WaitFor { .. }));
            for s in &d.steps {
                if let StepKind::Email {
                    template,
                    transactional,
                } = &s.kind
                {
                    let matched = waits.then(|| self.fulfilled.clone());
                    uses.entry(template.clone()).or_default().push((
                        trigger.clone(),
                        matched,
                        !transactional,
                    ));
                }
            }
        }
        uses
    }
}

/// A template's use: trigger, matched event, marketing.
type Use = (EventKind, Option<EventKind>, bool);

/// Renders every template strictly with the data of each of its uses (a
/// template no journey uses: with every sample), for two sample contacts.
fn check(root: &std::path::Path) -> Result<ExitCode> {
    let Some(catalog) = load(root)? else {
        return Ok(ExitCode::FAILURE);
    };
    let renderer = Renderer::for_catalog(&catalog);
    let samples = Samples::read(root)?;
    let contacts = samples.contacts(&catalog)?;
    let uses = samples.uses(&catalog);
    let (mut problems, mut checked) = (0, 0);
    for t in catalog.templates() {
        // A locale variant is checked with the data of its default's uses.
        let base = t.name.split('@').next().unwrap_or(&t.name);
        let cases = uses.get(base).cloned().unwrap_or_else(|| {
            samples
                .by_trigger
                .values()
                .map(|k| (k.clone(), Some(samples.fulfilled.clone()), true))
                .collect()
        });
        for (trigger, matched, marketing) in cases {
            for contact in &contacts {
                checked += 1;
                if let Err(e) = renderer.render_exactly(
                    &t.name,
                    &params(contact, trigger.clone(), matched.clone(), marketing),
                ) {
                    problems += 1;
                    eprintln!("{e}");
                }
            }
        }
    }
    if problems > 0 {
        eprintln!("{problems} problem(s)");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "ok: {} template(s), {checked} rendering(s)",
        catalog.templates().count()
    );
    Ok(ExitCode::SUCCESS)
}
