//! `waymark journeys simulate`: the real services (ingest parsing, process,
//! timer) over the in-memory adapters, driven by a timeline file, printing
//! what one journey did to each contact. Time is the timeline's, never the
//! clock's, so a simulation is repeatable.

use anyhow::{Context, Result, anyhow, bail};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use waymark_app::ingest::{ShopifyIngest, WebhookOutcome};
use waymark_app::memory::MemoryStore;
use waymark_app::ports::ContactStore;
use waymark_app::process::Processor;
use waymark_core::email::Renderer;
use waymark_core::ids::{ContactId, ShopDomain};
use waymark_core::journey::{Catalog, Effect};
use waymark_core::outbox::Channel;
use waymark_core::shopify::{self, Delivery, Topic};

enum Input {
    Webhook {
        shop: ShopDomain,
        topic: Topic,
        body: Vec<u8>,
    },
    Tick(Timestamp),
}

fn read_timeline(path: &Path) -> Result<Vec<(usize, Input)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        let here = || format!("{}:{line_no}", path.display());
        let v: Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", here()))?;
        if let Some(t) = v.get("tick") {
            let t = t
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| anyhow!("{}: `tick` must be an RFC 3339 instant", here()))?;
            out.push((line_no, Input::Tick(t)));
            continue;
        }
        let topic_name = v["topic"]
            .as_str()
            .ok_or_else(|| anyhow!("{}: needs `topic` (or `tick`)", here()))?;
        let topic = Topic::parse(topic_name)
            .ok_or_else(|| anyhow!("{}: unknown topic `{topic_name}`", here()))?;
        let mut payload = match (v.get("payload"), v.get("file").and_then(Value::as_str)) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => {
                let candidates = [base.join(f), Path::new(f).to_path_buf()];
                let file = candidates
                    .iter()
                    .find(|c| c.exists())
                    .ok_or_else(|| anyhow!("{}: no file {f}", here()))?;
                serde_json::from_str(&std::fs::read_to_string(file)?)
                    .with_context(|| format!("{}: {f} is not JSON", here()))?
            }
            _ => bail!("{}: give exactly one of `payload` or `file`", here()),
        };
        if let (Some(set), Some(obj)) = (
            v.get("set").and_then(Value::as_object),
            payload.as_object_mut(),
        ) {
            for (k, val) in set {
                obj.insert(k.clone(), val.clone());
            }
        }
        let shop = ShopDomain::parse(v["shop"].as_str().unwrap_or("demo.myshopify.com"))?;
        out.push((
            line_no,
            Input::Webhook {
                shop,
                topic,
                body: serde_json::to_vec(&payload)?,
            },
        ));
    }
    Ok(out)
}

struct Printer<'a> {
    journey: &'a str,
    renderer: Renderer,
    labels: HashMap<ContactId, String>,
    /// Lines of the current input, printed in logical-time order.
    pending: Vec<(Timestamp, String)>,
}

impl Printer<'_> {
    fn flush(&mut self) {
        self.pending.sort_by_key(|(t, _)| *t);
        for (_, line) in self.pending.drain(..) {
            println!("{line}");
        }
    }

    fn print(&mut self, contact: Option<&ContactId>, at: Timestamp, effects: &[Effect]) {
        let who = contact
            .map(|c| self.labels.get(c).cloned().unwrap_or_else(|| c.to_string()))
            .unwrap_or_default();
        for e in effects {
            let (when, what) = match e {
                Effect::Entered { journey, key, at } if journey == self.journey => {
                    (*at, format!("entered (run key {key})"))
                }
                Effect::Waiting { journey, until, .. } if journey == self.journey => {
                    (at, format!("waits until {until}"))
                }
                Effect::Email(m) if m.journey == self.journey => {
                    let Channel::Email { to, template, .. } = &m.channel else {
                        continue;
                    };
                    let subject = match self.renderer.render(template, &m.params) {
                        Ok(r) => format!("“{}”", r.subject),
                        Err(e) => format!("(would be parked: {e})"),
                    };
                    (
                        m.queued_at,
                        format!("email {} ({template}) to {to} {subject}", m.step),
                    )
                }
                Effect::Emit(m) if m.journey == self.journey => {
                    let Channel::Event { detail_type } = &m.channel else {
                        continue;
                    };
                    (m.queued_at, format!("{} emits {detail_type}", m.step))
                }
                Effect::Branched {
                    journey,
                    step,
                    to,
                    at,
                } if journey == self.journey => (*at, format!("{step} → {to}")),
                Effect::Updated { journey, step, at } if journey == self.journey => {
                    (*at, format!("{step}: contact updated"))
                }
                Effect::Skipped {
                    journey,
                    step,
                    reason,
                } if journey == self.journey => (at, format!("{step} skipped: {reason}")),
                Effect::Ended {
                    journey,
                    status,
                    reason,
                    at,
                    ..
                } if journey == self.journey => {
                    (*at, format!("left: {status:?} ({reason})").to_lowercase())
                }
                Effect::NotEntered { journey, reason } if journey == self.journey => {
                    (at, format!("not entered: {reason}"))
                }
                _ => continue,
            };
            self.pending
                .push((when, format!("{when}  {who:<28}  {what}")));
        }
    }
}

pub async fn run(
    catalog: Catalog,
    journey: &str,
    events: &Path,
    until: Option<&str>,
) -> Result<ExitCode> {
    if catalog.latest(journey).is_none() {
        bail!("no journey `{journey}`");
    }
    let timeline = read_timeline(events)?;
    let store = MemoryStore::default();
    let mut printer = Printer {
        journey,
        renderer: Renderer::for_catalog(&catalog),
        labels: HashMap::new(),
        pending: Vec::new(),
    };
    let sim = Services {
        processor: Processor::new(catalog, store.clone()),
        ingest: ShopifyIngest::new(b"simulator".to_vec(), store.clone()),
        store,
    };
    let mut last = Timestamp::UNIX_EPOCH;
    for (line, input) in timeline {
        let at = match input {
            Input::Tick(now) => {
                tick(&sim.processor, &sim.store, &mut printer, now).await?;
                now
            }
            Input::Webhook { shop, topic, body } => {
                let source = Source { file: events, line };
                play_webhook(&sim, &mut printer, source, &shop, topic, &body).await?
            }
        };
        last = last.max(at);
    }
    let end = match until {
        Some(u) => u.parse().map_err(|e| anyhow!("--until `{u}`: {e}"))?,
        None => last.checked_add(SignedDuration::from_hours(24 * 90))?,
    };
    tick(&sim.processor, &sim.store, &mut printer, end).await?;
    Ok(ExitCode::SUCCESS)
}

/// The real services over one in-memory store.
struct Services {
    processor: Processor<MemoryStore>,
    store: MemoryStore,
    ingest: ShopifyIngest<MemoryStore>,
}

/// Where in the timeline file an input stands (for errors and delivery ids).
#[derive(Clone, Copy)]
struct Source<'a> {
    file: &'a Path,
    line: usize,
}

/// Delivers one webhook of the timeline at its own time: what is due by
/// then fires first, so the timeline reads in logical order. Returns its time.
async fn play_webhook(
    sim: &Services,
    printer: &mut Printer<'_>,
    source: Source<'_>,
    shop: &ShopDomain,
    topic: Topic,
    body: &[u8],
) -> Result<Timestamp> {
    let line = source.line;
    let delivery = Delivery {
        shop,
        topic,
        webhook_id: &format!("sim-{line}"),
        triggered_at: None,
        body,
    };
    let event =
        shopify::parse(&delivery).map_err(|e| anyhow!("{}:{line}: {e}", source.file.display()))?;
    // Everyone's waits due by this event's time fire first, so the
    // timeline reads in logical order.
    tick(&sim.processor, &sim.store, printer, event.at).await?;
    ingest(sim, source, shop, topic, body, event.at).await?;
    for e in sim.store.take_new_events() {
        let report = sim.processor.handle_event(&e).await?;
        if let (Some(id), Some(email)) = (&report.contact, e.kind.identity().email) {
            printer
                .labels
                .entry(id.clone())
                .or_insert_with(|| email.to_string());
        }
        printer.print(report.contact.as_ref(), e.at, &report.effects);
    }
    printer.flush();
    Ok(event.at)
}

/// Hands the webhook to ingest, signed as Shopify would; a refusal ends
/// the simulation.
async fn ingest(
    sim: &Services,
    source: Source<'_>,
    shop: &ShopDomain,
    topic: Topic,
    body: &[u8],
    received_at: Timestamp,
) -> Result<()> {
    let line = source.line;
    let reply = sim
        .ingest
        .handle(&waymark_app::ingest::WebhookRequest {
            hmac: Some(&waymark_core::hmac::sign(b"simulator", body)),
            topic: Some(topic.as_str()),
            shop: Some(shop.as_str()),
            webhook_id: Some(&format!("sim-{line}")),
            event_id: None,
            triggered_at: None,
            received_at,
            body,
        })
        .await;
    if !matches!(
        reply,
        WebhookOutcome::Accepted { .. }
            | WebhookOutcome::Duplicate { .. }
            | WebhookOutcome::Ignored { .. }
    ) {
        bail!(
            "{}:{line}: ingest refused it: {reply:?}",
            source.file.display()
        );
    }
    Ok(())
}

/// Fires everything due by `now` (each wait at its own time), printing in
/// logical-time order.
async fn tick(
    processor: &Processor<MemoryStore>,
    store: &MemoryStore,
    printer: &mut Printer<'_>,
    now: Timestamp,
) -> Result<()> {
    let outcome = waymark_app::timer::tick(
        processor,
        store,
        store,
        store,
        now,
        waymark_app::timer::Scope::ALL,
        || true,
    )
    .await?;
    for c in &outcome.effects {
        if !printer.labels.contains_key(&c.contact)
            && let Some(state) = store.load_for_update(&c.shop, &c.contact).await?
            && let Some(email) = state.contact.identity.email
        {
            printer.labels.insert(c.contact.clone(), email.to_string());
        }
        printer.print(Some(&c.contact), now, &c.effects);
    }
    printer.flush();
    Ok(())
}
