//! `waymark report --html FILE`: the report as one self-contained page
//! (inline SVG charts drawn here, inline CSS, no script and no network):
//! a funnel per journey, the daily sends, opens, clicks and revenue, revenue
//! by journey, split results, and each journey's steps with their counts.

use serde_json::Value;
use std::fmt::Write as _;
use waymark_core::journey::{Catalog, successors};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

/// The currency most revenue is in (the charts show one).
fn main_currency(report: &Value) -> Option<String> {
    report["store"]["revenue"]
        .as_object()?
        .iter()
        .max_by(|a, b| num(a.1).total_cmp(&num(b.1)))
        .map(|(c, _)| c.clone())
}

/// Horizontal bars: (label, value), scaled to the largest.
fn bars(title: &str, rows: &[(String, f64)], unit: &str) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1.0);
    let h = 26 * rows.len().max(1) + 30;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg role="img" viewBox="0 0 720 {h}" width="720" height="{h}">"#,
        esc(title)
    );
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 10 + i * 26;
        let w = (v / max * 460.0).max(if *v > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" class="l">{}</text><rect x="200" y="{y}" width="{w:.1}" height="18" class="b"><title>{} {v}</title></rect><text x="{:.1}" y="{}" class="v">{}{}</text>"#,
            y + 14,
            esc(label),
            esc(label),
            206.0 + w,
            y + 14,
            trim(*v),
            esc(unit)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

fn trim(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Lines over days for several series (same scale), with a legend.
fn lines(title: &str, days: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let (w, h, left, bottom) = (720.0, 220.0, 40.0, 30.0);
    let max = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .fold(0.0, f64::max)
        .max(1.0);
    let n = days.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / n;
    let y = |v: f64| (h - bottom) - (h - bottom - 10.0) * v / max;
    let mut svg = format!(
        r#"<figure><figcaption>{}</figcaption><svg role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}"><line x1="{left}" y1="{}" x2="{w}" y2="{}" class="axis"/><text x="0" y="14" class="v">{}</text>"#,
        esc(title),
        h - bottom,
        h - bottom,
        trim(max)
    );
    for (k, (name, values)) in series.iter().enumerate() {
        let points: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" class="s{k}" fill="none"/><text x="{}" y="{}" class="s{k}t">{}</text>"#,
            points.join(" "),
            left + 120.0 * k as f64,
            h - 6.0,
            esc(name)
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            r#"<text x="{left}" y="{}" class="v">{}</text><text x="{}" y="{}" class="v" text-anchor="end">{}</text>"#,
            h - bottom + 14.0,
            esc(first),
            w - 10.0,
            h - bottom + 14.0,
            esc(last)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The steps of a journey's newest version as boxes, each with its counts
/// and where it leads.
fn graph(catalog: &Catalog, journey: &Value) -> String {
    let id = journey["journey"].as_str().unwrap_or("");
    let version = journey["version"].as_u64().unwrap_or(0) as u32;
    let Some(d) = catalog
        .journeys()
        .iter()
        .find(|d| d.id == id && d.version == version)
        .or_else(|| {
            catalog
                .journeys()
                .iter()
                .filter(|d| d.id == id)
                .max_by_key(|d| d.version)
        })
    else {
        return String::new();
    };
    let counts = |step: &str| {
        journey["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["step"] == step)
            .map(|s| {
                format!(
                    "sent {} · opened {} · clicked {} · orders {}",
                    s["sent"], s["opened"], s["clicked"], s["orders"]
                )
            })
    };
    let h = 20 + 58 * d.steps.len();
    let mut svg = format!(
        r#"<figure><figcaption>{} v{} — steps</figcaption><svg role="img" viewBox="0 0 720 {h}" width="720" height="{h}">"#,
        esc(&d.name),
        d.version
    );
    for (i, step) in d.steps.iter().enumerate() {
        let y = 10 + i * 58;
        let next: Vec<String> = successors(step)
            .into_iter()
            .map(|t| t.map_or("end".to_string(), |t| d.steps[t].id.clone()))
            .collect();
        let _ = write!(
            svg,
            r#"<rect x="10" y="{y}" width="700" height="48" rx="6" class="node"/><text x="20" y="{}" class="l">{} — {}</text><text x="20" y="{}" class="v">{} → {}</text>"#,
            y + 20,
            esc(&step.id),
            esc(&waymark_core::journey::graph::describe(d, i)),
            y + 38,
            esc(&counts(&step.id).unwrap_or_default()),
            esc(&next.join(", "))
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The whole page.
pub fn page(report: &Value, catalog: &Catalog) -> String {
    let currency = main_currency(report);
    let journeys = report["journeys"].as_array().cloned().unwrap_or_default();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Waymark results</h1><p>{} to {}</p>",
        esc(report["from"].as_str().unwrap_or("")),
        esc(report["to"].as_str().unwrap_or(""))
    );
    body.push_str(&store_table(&report["store"]));
    if let Some(cur) = &currency {
        body.push_str(&revenue_by_journey(&journeys, cur));
    }
    body.push_str(&daily_charts(&journeys, currency.as_deref()));
    for j in &journeys {
        body.push_str(&journey_section(catalog, j));
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Waymark results</title><style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}} th,td{{border:1px solid #ddd;padding:4px 8px;text-align:left}}
figure{{margin:1em 0}} figcaption{{font-weight:600;margin-bottom:4px}} .b{{fill:#3b82f6}} .l{{font-size:12px}} .v{{font-size:11px;fill:#555}}
.axis{{stroke:#999}} .node{{fill:#f4f6fb;stroke:#9aa7c7}} .s0{{stroke:#3b82f6;stroke-width:2}} .s1{{stroke:#10b981;stroke-width:2}} .s2{{stroke:#f59e0b;stroke-width:2}}
.s0t{{fill:#3b82f6;font-size:12px}} .s1t{{fill:#10b981;font-size:12px}} .s2t{{fill:#f59e0b;font-size:12px}}
</style></head><body>{body}</body></html>"#
    )
}

/// The store KPIs, one row each.
fn store_table(s: &Value) -> String {
    let mut body = String::new();
    body.push_str("<h2>Store</h2><table>");
    for key in [
        "orders",
        "attributed_orders",
        "repeat_purchase_rate",
        "checkouts_started",
        "checkouts_abandoned",
        "abandonment_rate",
        "checkouts_recovered",
        "recovery_rate",
        "subscribed",
        "unsubscribed",
        "bounce_rate",
        "bounce_status",
        "complaint_rate",
        "complaint_status",
    ] {
        let _ = write!(
            body,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(&key.replace('_', " ")),
            esc(&match &s[key] {
                Value::String(t) => t.clone(),
                Value::Null => "—".into(),
                v => v.to_string(),
            })
        );
    }
    for key in ["revenue", "attributed_revenue", "average_order_value"] {
        let text: Vec<String> = s[key]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(c, v)| format!("{} {c}", v.as_str().unwrap_or("")))
            .collect();
        let _ = write!(
            body,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(&key.replace('_', " ")),
            esc(&text.join("; "))
        );
    }
    body.push_str("</table>");
    body
}

/// Attributed revenue by journey, in the main currency.
fn revenue_by_journey(journeys: &[Value], cur: &str) -> String {
    let rows: Vec<(String, f64)> = journeys
        .iter()
        .map(|j| {
            (
                format!("{} v{}", j["journey"].as_str().unwrap_or(""), j["version"]),
                num(&j["revenue"][cur]),
            )
        })
        .collect();
    bars(
        &format!("Attributed revenue by journey ({cur})"),
        &rows,
        &format!(" {cur}"),
    )
}

/// Daily sends, opens and clicks; revenue (in the main currency, if any).
fn daily_charts(journeys: &[Value], currency: Option<&str>) -> String {
    let mut body = String::new();
    let mut days: std::collections::BTreeMap<String, [f64; 4]> = Default::default();
    for j in journeys {
        for d in j["days"].as_array().into_iter().flatten() {
            let e = days
                .entry(d["day"].as_str().unwrap_or("").to_string())
                .or_default();
            e[0] += num(&d["sent"]);
            e[1] += num(&d["opened"]);
            e[2] += num(&d["clicked"]);
            e[3] += currency.map_or(0.0, |c| num(&d["revenue"][c]));
        }
    }
    let labels: Vec<String> = days.keys().cloned().collect();
    let series = |k: usize| days.values().map(|v| v[k]).collect::<Vec<f64>>();
    body.push_str(&lines(
        "Emails per day",
        &labels,
        &[
            ("sent", series(0)),
            ("opened", series(1)),
            ("clicked", series(2)),
        ],
    ));
    if let Some(cur) = currency {
        body.push_str(&lines(
            &format!("Attributed revenue per day ({cur})"),
            &labels,
            &[("revenue", series(3))],
        ));
    }
    body
}

/// One journey version: its funnel, split results and flow graph.
fn journey_section(catalog: &Catalog, j: &Value) -> String {
    let mut body = String::new();
    let name = format!("{} v{}", j["journey"].as_str().unwrap_or(""), j["version"]);
    let _ = write!(body, "<h2>{}</h2>", esc(&name));
    let funnel: Vec<(String, f64)> = [
        "entered",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "orders",
    ]
    .iter()
    .map(|k| (k.to_string(), num(&j[*k])))
    .collect();
    body.push_str(&bars("Funnel", &funnel, ""));
    for split in j["splits"].as_array().into_iter().flatten() {
        body.push_str(&split_table(split));
    }
    body.push_str(&graph(catalog, j));
    body
}

/// One split's branches against its control.
fn split_table(split: &Value) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<table><caption>Split at {} ({})</caption><tr><th>branch</th><th>entered</th><th>converted</th><th>rate</th><th>lift</th><th>p</th><th>result</th></tr>",
        esc(split["step"].as_str().unwrap_or("")),
        esc(split["method"].as_str().unwrap_or(""))
    );
    for b in split["branches"].as_array().into_iter().flatten() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(b["branch"].as_str().unwrap_or("")),
            b["entered"],
            b["converted"],
            percent(&b["conversion_rate"], false),
            percent(&b["lift"], true),
            b["p_value"]
                .as_f64()
                .map_or("—".to_string(), |p| format!("{p:.3}")),
            esc(b["result"].as_str().unwrap_or(""))
        );
    }
    body.push_str("</table>");
    body
}

/// A share as a percentage (`+` before a lift that is one), or a dash where
/// there is none (the control's own lift, a branch nobody entered).
fn percent(v: &Value, signed: bool) -> String {
    match v.as_f64() {
        Some(x) if signed => format!("{:+.1} %", x * 100.0),
        Some(x) => format!("{:.1} %", x * 100.0),
        None => "—".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_core::analytics::report::{By, build};
    use waymark_core::analytics::{Counts, Key, STORE, field};

    #[test]
    fn the_page_is_self_contained_and_its_charts_have_marks() {
        let catalog = crate::content::load_or_report(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../.."
        )))
        .unwrap()
        .unwrap();
        let mut c = Counts::default();
        for (d, sent) in [(1, 10), (2, 30)] {
            let day = jiff::civil::date(2026, 12, d);
            let j = Key::new(day, "welcome_series", 1, "");
            c.add(&j, field::ENTERED, sent);
            c.add(&j, field::SENT, sent);
            c.add(&j, field::OPENED, sent / 2);
            c.add(&j, field::CLICKED, sent / 5);
            c.add(&j, "revenue:EUR", 1000 * sent);
            c.add(
                &Key::new(day, STORE, 0, ""),
                "store_revenue:EUR",
                5000 * sent,
            );
            c.add(&Key::new(day, STORE, 0, ""), field::STORE_ORDERS, 3);
        }
        let mut report = build(&c, None, By::Day);
        report["from"] = "2026-12-01".into();
        report["to"] = "2026-12-02".into();
        let html = page(&report, &catalog);
        assert!(html.starts_with("<!doctype html>"));
        assert!(!html.contains("<script"), "no script");
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "nothing fetched"
        );
        assert!(html.matches("<svg").count() >= 4, "charts");
        // The revenue bar and the funnel bars have width; lines have points.
        assert!(
            html.contains(r#"class="b"><title>welcome_series v1 400"#),
            "{html}"
        );
        assert!(html.contains("<polyline points=\"40.0,"), "daily lines");
        assert!(html.contains("welcome_series"));
    }
}
