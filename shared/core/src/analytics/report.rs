//! The report: counter rows summed into per-journey funnels, steps, split
//! results and store KPIs. Pure: `waymark report` reads the rows and prints
//! this in JSON, CSV or a table.
//!
//! Split results use a two-proportion z-test of each branch's conversion
//! rate against the control (a branch named `control` or `holdout`, else the
//! first): it needs no prior, reads as "how surprising is this gap if the
//! branches were equal", and is what a store's team can check by hand. A
//! result is `undecided` below [`MIN_SAMPLE`] entries per branch or at
//! p ≥ 0.05.

use super::{Counts, Key, STORE, field};
use crate::money::{Currency, Money};
use crate::stats::two_proportion_p;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Entries per branch below which a split result is undecided.
pub const MIN_SAMPLE: i64 = 100;
/// SES's review thresholds (bounce 5 %, complaint 0.1 %); above 10 % and
/// 0.5 % SES may pause sending.
pub const BOUNCE_REVIEW: f64 = 0.05;
pub const BOUNCE_PAUSE: f64 = 0.10;
pub const COMPLAINT_REVIEW: f64 = 0.001;
pub const COMPLAINT_PAUSE: f64 = 0.005;

/// How rows are broken down besides steps and splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    /// One entry per journey and version (the default).
    #[default]
    Version,
    /// As `Version`, each with its days.
    Day,
    /// As `Version`; steps are always listed (kept for the CLI's `--by step`).
    Step,
}

type Fields = BTreeMap<String, i64>;

fn get(f: &Fields, name: &str) -> i64 {
    f.get(name).copied().unwrap_or(0)
}

fn add_all(into: &mut Fields, from: &Fields) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// `{"EUR": "12.50"}` from the fields named `<prefix><currency>`.
fn money(f: &Fields, prefix: &str) -> Value {
    let mut out = Map::new();
    for (k, v) in f {
        if let Some(cur) = k.strip_prefix(prefix)
            && let Ok(currency) = Currency::parse(cur)
        {
            let m = Money {
                amount_minor: *v,
                currency,
            };
            out.insert(cur.to_string(), Value::String(m.decimal()));
        }
    }
    Value::Object(out)
}

fn ratio(a: i64, b: i64) -> Value {
    if b <= 0 {
        Value::Null
    } else {
        json!(((a as f64 / b as f64) * 10_000.0).round() / 10_000.0)
    }
}

/// The email measures every level (journey, step) reports.
fn email(f: &Fields) -> Map<String, Value> {
    let mut m = Map::new();
    for name in [
        field::SENT,
        field::DELIVERED,
        field::OPENED,
        field::MACHINE_OPENED,
        field::CLICKED,
        field::MACHINE_CLICKED,
        field::BOUNCED,
        field::COMPLAINED,
        field::UNSUBSCRIBED,
        field::ORDERS,
        field::MAYBE_DUPLICATED,
    ] {
        m.insert(name.into(), json!(get(f, name)));
    }
    m.insert("revenue".into(), money(f, field::REVENUE));
    let base = if get(f, field::DELIVERED) > 0 {
        get(f, field::DELIVERED)
    } else {
        get(f, field::SENT)
    };
    m.insert("open_rate".into(), ratio(get(f, field::OPENED), base));
    m.insert("click_rate".into(), ratio(get(f, field::CLICKED), base));
    m
}

fn splits(steps: &BTreeMap<String, Fields>) -> Vec<Value> {
    let mut by_split: BTreeMap<&str, Vec<(&str, &Fields)>> = BTreeMap::new();
    for (step, f) in steps {
        if let Some((split, branch)) = step.split_once('=') {
            by_split.entry(split).or_default().push((branch, f));
        }
    }
    by_split
        .into_iter()
        .map(|(split, branches)| {
            let control = branches
                .iter()
                .position(|(b, _)| *b == "control" || *b == "holdout")
                .unwrap_or(0);
            let (control_name, cf) = branches[control];
            let rate = |f: &Fields| {
                let n = get(f, field::ENTERED);
                (n > 0).then(|| get(f, field::CONVERTED) as f64 / n as f64)
            };
            let mut best: Option<(&str, f64)> = None;
            let mut decided_any = false;
            let rows: Vec<Value> = branches
                .iter()
                .map(|(branch, f)| {
                    let p = (*branch != control_name)
                        .then(|| {
                            two_proportion_p(
                                get(f, field::CONVERTED),
                                get(f, field::ENTERED),
                                get(cf, field::CONVERTED),
                                get(cf, field::ENTERED),
                            )
                        })
                        .flatten();
                    let enough = get(f, field::ENTERED) >= MIN_SAMPLE
                        && get(cf, field::ENTERED) >= MIN_SAMPLE;
                    let decided = enough && p.is_some_and(|p| p < 0.05);
                    let lift = match (rate(f), rate(cf)) {
                        (Some(r), Some(c)) if c > 0.0 && *branch != control_name => {
                            json!(((r / c - 1.0) * 10_000.0).round() / 10_000.0)
                        }
                        _ => Value::Null,
                    };
                    if let Some(r) = rate(f)
                        && best.is_none_or(|(_, b)| r > b)
                    {
                        best = Some((branch, r));
                    }
                    decided_any |= decided;
                    json!({
                        "branch": branch,
                        "control": *branch == control_name,
                        "entered": get(f, field::ENTERED),
                        "converted": get(f, field::CONVERTED),
                        "conversion_rate": ratio(get(f, field::CONVERTED), get(f, field::ENTERED)),
                        "orders": get(f, field::ORDERS),
                        "revenue": money(f, field::REVENUE),
                        "lift": lift,
                        "p_value": p.map(|p| (p * 10_000.0).round() / 10_000.0),
                        "result": if *branch == control_name { "control" } else if decided { "significant" } else { "undecided" },
                    })
                })
                .collect();
            json!({
                "step": split,
                "method": "two-proportion z-test against the control, two-sided, p < 0.05",
                "min_sample": MIN_SAMPLE,
                "branches": rows,
                "leader": if decided_any { best.map(|(b, _)| b) } else { None },
            })
        })
        .collect()
}

/// One journey version's rows: its totals, its steps and its days.
#[derive(Default)]
struct JourneyRows {
    total: Fields,
    steps: BTreeMap<String, Fields>,
    days: BTreeMap<jiff::civil::Date, Fields>,
}

/// The rows summed per journey version and for the store.
#[derive(Default)]
struct Sums {
    journeys: BTreeMap<(String, u32), JourneyRows>,
    store: Fields,
    store_days: BTreeMap<jiff::civil::Date, Fields>,
}

/// The report over `counts` (already limited to the period), for one
/// journey or all.
pub fn build(counts: &Counts, journey: Option<&str>, by: By) -> Value {
    let sums = sum_rows(counts, journey);
    let list: Vec<Value> = sums
        .journeys
        .iter()
        .map(|((j, version), e)| journey_entry(j, *version, e, by))
        .collect();
    json!({ "journeys": list, "store": store_kpis(&sums.store, &sums.store_days) })
}

/// Sums the rows per journey version (only `journey`'s when one is asked
/// for) and for the store.
fn sum_rows(counts: &Counts, journey: Option<&str>) -> Sums {
    let mut sums = Sums::default();
    let counts = counts.with_message_totals();
    for (
        Key {
            day,
            journey: j,
            version,
            step,
        },
        f,
    ) in &counts.0
    {
        if j == STORE {
            add_all(&mut sums.store, f);
            add_all(sums.store_days.entry(*day).or_default(), f);
            continue;
        }
        // Attributed orders count store-wide whichever journey is asked for.
        if step.is_empty() {
            add_attributed(&mut sums.store, f);
        }
        if journey.is_some_and(|want| want != j) {
            continue;
        }
        let e = sums.journeys.entry((j.clone(), *version)).or_default();
        if step.is_empty() {
            add_all(&mut e.total, f);
            add_all(e.days.entry(*day).or_default(), f);
        } else {
            add_all(e.steps.entry(step.clone()).or_default(), f);
        }
    }
    sums
}

/// Adds a journey's totals row to the store's attributed orders, revenue
/// and email counts.
fn add_attributed(store: &mut Fields, f: &Fields) {
    *store.entry("attributed_orders".into()).or_default() += get(f, field::ORDERS);
    for (k, v) in f {
        if let Some(cur) = k.strip_prefix(field::REVENUE) {
            *store.entry(format!("attributed:{cur}")).or_default() += v;
        }
    }
    for name in [
        field::SENT,
        field::DELIVERED,
        field::BOUNCED,
        field::COMPLAINED,
    ] {
        *store.entry(format!("email_{name}")).or_default() += get(f, name);
    }
}

/// One journey version's entry: its funnel, steps, splits and (by day) days.
fn journey_entry(j: &str, version: u32, e: &JourneyRows, by: By) -> Value {
    let t = &e.total;
    let mut o = Map::new();
    o.insert("journey".into(), json!(j));
    o.insert("version".into(), json!(version));
    o.insert("entered".into(), json!(get(t, field::ENTERED)));
    o.extend(email(t));
    o.insert("converted".into(), json!(get(t, field::CONVERTED)));
    o.insert("completed".into(), json!(get(t, field::COMPLETED)));
    o.insert("exited".into(), json!(get(t, field::EXITED)));
    let reasons: Map<String, Value> = t
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(field::EXITED_BY)?.to_string(), json!(v))))
        .collect();
    o.insert("exited_by".into(), Value::Object(reasons));
    o.insert(
        "conversion_rate".into(),
        ratio(get(t, field::CONVERTED), get(t, field::ENTERED)),
    );
    o.insert("steps".into(), Value::Array(step_entries(&e.steps)));
    o.insert("splits".into(), Value::Array(splits(&e.steps)));
    if by == By::Day {
        o.insert("days".into(), Value::Array(day_entries(&e.days)));
    }
    Value::Object(o)
}

/// The email measures of each step (split branches are reported apart).
fn step_entries(steps: &BTreeMap<String, Fields>) -> Vec<Value> {
    steps
        .iter()
        .filter(|(s, _)| !s.contains('='))
        .map(|(s, f)| {
            let mut m = Map::new();
            m.insert("step".into(), json!(s));
            m.extend(email(f));
            Value::Object(m)
        })
        .collect()
}

fn day_entries(days: &BTreeMap<jiff::civil::Date, Fields>) -> Vec<Value> {
    days.iter()
        .map(|(d, f)| {
            let mut m = Map::new();
            m.insert("day".into(), json!(d.to_string()));
            m.insert("entered".into(), json!(get(f, field::ENTERED)));
            m.extend(email(f));
            m.insert("converted".into(), json!(get(f, field::CONVERTED)));
            Value::Object(m)
        })
        .collect()
}

fn store_kpis(s: &Fields, days: &BTreeMap<jiff::civil::Date, Fields>) -> Value {
    let orders = get(s, field::STORE_ORDERS);
    let revenue = money(s, field::STORE_REVENUE);
    let attributed = money(s, "attributed:");
    let mut share = Map::new();
    let mut aov = Map::new();
    for (k, v) in s {
        if let Some(cur) = k.strip_prefix(field::STORE_REVENUE) {
            let a = get(s, &format!("attributed:{cur}"));
            share.insert(cur.to_string(), ratio(a, *v));
            // Counters from before orders were counted per currency have
            // only the total.
            let in_currency = match get(s, &format!("{}{cur}", field::STORE_ORDERS_IN)) {
                0 => orders,
                n => n,
            };
            if in_currency > 0
                && let Ok(currency) = Currency::parse(cur)
            {
                let m = Money {
                    amount_minor: v / in_currency,
                    currency,
                };
                aov.insert(cur.to_string(), Value::String(m.decimal()));
            }
        }
    }
    let sent = get(s, "email_sent");
    let bounce = ratio(get(s, "email_bounced"), sent);
    let complaint = ratio(get(s, "email_complained"), sent);
    let status = |rate: &Value, review: f64, pause: f64| match rate.as_f64() {
        None => "no sends",
        Some(r) if r >= pause => "at risk of a sending pause",
        Some(r) if r >= review => "under review",
        Some(_) => "healthy",
    };
    let growth: Vec<Value> = days
        .iter()
        .filter(|(_, f)| get(f, field::SUBSCRIBED) != 0 || get(f, field::UNSUBSCRIBED) != 0)
        .map(|(d, f)| {
            json!({
                "day": d.to_string(),
                "subscribed": get(f, field::SUBSCRIBED),
                "unsubscribed": get(f, field::UNSUBSCRIBED),
            })
        })
        .collect();
    json!({
        "orders": orders,
        "revenue": revenue,
        "attributed_orders": get(s, "attributed_orders"),
        "attributed_revenue": attributed,
        "attributed_share": Value::Object(share),
        "average_order_value": Value::Object(aov),
        "repeat_purchase_rate": ratio(get(s, field::REPEAT_ORDERS), orders),
        "checkouts_started": get(s, field::CHECKOUTS),
        "checkouts_abandoned": get(s, field::ABANDONED),
        "abandonment_rate": ratio(get(s, field::ABANDONED), get(s, field::CHECKOUTS)),
        "checkouts_recovered": get(s, field::RECOVERED),
        "recovery_rate": ratio(get(s, field::RECOVERED), get(s, field::ABANDONED)),
        "subscribed": get(s, field::SUBSCRIBED),
        "unsubscribed": get(s, field::UNSUBSCRIBED),
        "list_growth": growth,
        "emails_sent": sent,
        "bounce_rate": bounce,
        "bounce_status": status(&bounce, BOUNCE_REVIEW, BOUNCE_PAUSE),
        "complaint_rate": complaint,
        "complaint_status": status(&complaint, COMPLAINT_REVIEW, COMPLAINT_PAUSE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_z_test_matches_a_worked_example() {
        // 200/1000 against 150/1000: z ≈ 2.953, two-sided p ≈ 0.0031.
        let p = two_proportion_p(200, 1000, 150, 1000).unwrap();
        assert!((p - 0.0031).abs() < 0.0002, "{p}");
        assert!(two_proportion_p(10, 100, 10, 100).unwrap() > 0.99);
        assert_eq!(two_proportion_p(1, 0, 1, 10), None);
    }

    #[test]
    fn journeys_steps_splits_and_the_store_add_up() {
        let d = jiff::civil::date(2026, 12, 1);
        let mut c = Counts::default();
        let j = Key::new(d, "welcome", 2, "");
        c.add(&j, field::ENTERED, 300);
        c.add(&j, field::SENT, 280);
        c.add(&j, field::DELIVERED, 270);
        c.add(&j, field::OPENED, 135);
        c.add(&j, field::ORDERS, 3);
        c.add(&j, "revenue:EUR", 12_345);
        c.add(&Key::new(d, "welcome", 2, "w1"), field::SENT, 280);
        c.add(
            &Key::new(d, "welcome", 2, "subject=control"),
            field::ENTERED,
            150,
        );
        c.add(
            &Key::new(d, "welcome", 2, "subject=control"),
            field::CONVERTED,
            15,
        );
        c.add(&Key::new(d, "welcome", 2, "subject=b"), field::ENTERED, 150);
        c.add(
            &Key::new(d, "welcome", 2, "subject=b"),
            field::CONVERTED,
            40,
        );
        let s = Key::new(d, STORE, 0, "");
        c.add(&s, field::STORE_ORDERS, 10);
        c.add(&s, "store_revenue:EUR", 50_000);
        c.add(&Key::new(d, "browse", 1, ""), field::ENTERED, 5);
        let r = build(&c, Some("welcome"), By::Version);
        let w = &r["journeys"][0];
        assert_eq!(r["journeys"].as_array().unwrap().len(), 1);
        assert_eq!(w["journey"], "welcome");
        assert_eq!(w["version"], 2);
        assert_eq!(w["entered"], 300);
        assert_eq!(w["revenue"]["EUR"], "123.45");
        assert_eq!(w["open_rate"], 0.5);
        assert_eq!(w["steps"][0]["step"], "w1");
        let split = &w["splits"][0];
        assert_eq!(split["step"], "subject");
        assert_eq!(split["branches"][0]["branch"], "b");
        assert_eq!(split["branches"][0]["result"], "significant");
        assert_eq!(split["branches"][1]["result"], "control");
        assert_eq!(split["leader"], "b");
        let store = &r["store"];
        assert_eq!(store["orders"], 10);
        assert_eq!(store["revenue"]["EUR"], "500.00");
        assert_eq!(store["attributed_revenue"]["EUR"], "123.45");
        assert_eq!(store["average_order_value"]["EUR"], "50.00");

        // Two currencies: each average divides by its own orders.
        c.add(&s, "store_orders_in:EUR", 10);
        c.add(&s, field::STORE_ORDERS, 2);
        c.add(&s, "store_orders_in:USD", 2);
        c.add(&s, "store_revenue:USD", 6_000);
        let store = &build(&c, None, By::Version)["store"];
        assert_eq!(store["average_order_value"]["EUR"], "50.00");
        assert_eq!(store["average_order_value"]["USD"], "30.00");
    }

    #[test]
    fn a_small_split_is_undecided() {
        let d = jiff::civil::date(2026, 12, 1);
        let mut c = Counts::default();
        c.add(&Key::new(d, "w", 1, "s=a"), field::ENTERED, 20);
        c.add(&Key::new(d, "w", 1, "s=a"), field::CONVERTED, 1);
        c.add(&Key::new(d, "w", 1, "s=b"), field::ENTERED, 20);
        c.add(&Key::new(d, "w", 1, "s=b"), field::CONVERTED, 10);
        let r = build(&c, None, By::Version);
        assert_eq!(
            r["journeys"][0]["splits"][0]["branches"][1]["result"],
            "undecided"
        );
        assert_eq!(r["journeys"][0]["splits"][0]["leader"], Value::Null);
    }
}
