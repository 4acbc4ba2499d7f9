//! `waymark report`: what each journey sent, earned and converted, from the
//! results counters in the table (one query per day and shard; no scan).
//! Reaches DynamoDB like `segments count`: the standard AWS configuration
//! (`AWS_ENDPOINT_URL` for the local stack) and `TABLE_NAME`.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde_json::Value;
use std::process::ExitCode;
use waymark_app::ports::Counters;
use waymark_aws::store::DynamoStore;
use waymark_core::analytics::report::{self, By};
use waymark_core::ids::ShopDomain;

#[derive(Args)]
pub struct ReportArgs {
    /// The period ending today (in the shop's zone): `30d`, `12w`.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    since: Option<String>,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long)]
    from: Option<jiff::civil::Date>,
    /// Last day of the period (YYYY-MM-DD), today when left out.
    #[arg(long)]
    to: Option<jiff::civil::Date>,
    /// Only this journey (or campaign).
    #[arg(long)]
    journey: Option<String>,
    /// Breakdown: `version` (default: a row per journey version), `step`
    /// (each version's steps under it) or `day` (each version's days under
    /// it). JSON and CSV always list the steps; `day` adds the days to JSON.
    #[arg(long, value_enum, default_value = "version")]
    by: ByArg,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Also write the report as one self-contained HTML page (inline SVG
    /// charts; opens without a network).
    #[arg(long)]
    html: Option<std::path::PathBuf>,
    #[arg(long, default_value = "demo.myshopify.com")]
    shop: String,
    #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
    table: String,
    /// The repository root (the shop's zone is in journeys/_defaults.yaml).
    #[arg(long, default_value = ".")]
    root: std::path::PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum ByArg {
    Day,
    Step,
    Version,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

/// The days a report covers.
fn period(
    args: &ReportArgs,
    today: jiff::civil::Date,
) -> Result<(jiff::civil::Date, jiff::civil::Date)> {
    let to = args.to.unwrap_or(today);
    let from = match (&args.since, args.from) {
        (Some(since), _) => {
            let span = waymark_core::time::parse_duration(since)
                .map_err(|e| anyhow::anyhow!("--since {since}: {e}"))?;
            let days = (span.as_secs() / 86_400).max(1);
            to.checked_sub(jiff::Span::new().days(days - 1))
                .context("--since reaches too far back")?
        }
        (None, Some(from)) => from,
        (None, None) => to
            .checked_sub(jiff::Span::new().days(29))
            .context("date out of range")?,
    };
    if from > to {
        bail!("--from {from} is after --to {to}");
    }
    if to.since(from)?.get_days() > 800 {
        bail!("a report covers at most 800 days (counters are kept 400)");
    }
    Ok((from, to))
}

pub async fn report(args: ReportArgs) -> Result<ExitCode> {
    let Some(catalog) = crate::content::load_or_report(&args.root)? else {
        return Ok(ExitCode::FAILURE);
    };
    let zone = catalog.time_zone().clone();
    let today = jiff::Timestamp::now().to_zoned(zone).date();
    let (from, to) = period(&args, today)?;
    let shop = ShopDomain::parse(&args.shop).map_err(|e| anyhow::anyhow!("--shop: {e}"))?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &args.table);
    let counts = store.read_counts(&shop, from, to).await?;
    let by = match args.by {
        ByArg::Day => By::Day,
        ByArg::Step => By::Step,
        ByArg::Version => By::Version,
    };
    let mut out = report::build(&counts, args.journey.as_deref(), by);
    out["from"] = Value::String(from.to_string());
    out["to"] = Value::String(to.to_string());
    if let Some(path) = &args.html {
        // The page charts days: built by day whatever the breakdown asked.
        let mut daily = report::build(&counts, args.journey.as_deref(), By::Day);
        daily["from"] = out["from"].clone();
        daily["to"] = out["to"].clone();
        std::fs::write(path, crate::report_html::page(&daily, &catalog))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        Format::Csv => print!("{}", csv(&out)),
        Format::Table => print!("{}", table(&out, args.by)),
    }
    Ok(ExitCode::SUCCESS)
}

const COLUMNS: &[&str] = &[
    "entered",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "converted",
    "orders",
];

fn revenue(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(cur, amount)| format!("{} {cur}", amount.as_str().unwrap_or("0")))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

fn cell(row: &Value, name: &str) -> String {
    match &row[name] {
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

/// One line per journey and per step: `journey,version,step,…,revenue`.
fn csv(report: &Value) -> String {
    use crate::segments::csv as field;
    let mut out = format!("journey,version,step,{},revenue\n", COLUMNS.join(","));
    for j in report["journeys"].as_array().into_iter().flatten() {
        let journey = j["journey"].as_str().unwrap_or("");
        let version = cell(j, "version");
        let mut line = |step: &str, row: &Value| {
            let cells: Vec<String> = COLUMNS.iter().map(|c| cell(row, c)).collect();
            out.push_str(&format!(
                "{},{version},{},{},{}\n",
                field(journey),
                field(step),
                cells.join(","),
                field(&revenue(&row["revenue"]))
            ));
        };
        line("", j);
        for s in j["steps"].as_array().into_iter().flatten() {
            line(s["step"].as_str().unwrap_or(""), s);
        }
    }
    out
}

/// The table: a row per journey version, and under each its steps
/// (`--by step`) or days (`--by day`), indented.
fn table(report: &Value, by: ByArg) -> String {
    let mut rows: Vec<Vec<String>> = vec![
        ["journey", "v"]
            .into_iter()
            .chain(COLUMNS.iter().copied())
            .chain(["revenue"])
            .map(String::from)
            .collect(),
    ];
    for j in report["journeys"].as_array().into_iter().flatten() {
        let mut row = vec![
            j["journey"].as_str().unwrap_or("").to_string(),
            cell(j, "version"),
        ];
        row.extend(COLUMNS.iter().map(|c| cell(j, c)));
        row.push(revenue(&j["revenue"]));
        rows.push(row);
        let (under, label) = match by {
            ByArg::Step => ("steps", "step"),
            ByArg::Day => ("days", "day"),
            ByArg::Version => continue,
        };
        for sub in j[under].as_array().into_iter().flatten() {
            let mut row = vec![
                format!("  {}", sub[label].as_str().unwrap_or("")),
                String::new(),
            ];
            row.extend(COLUMNS.iter().map(|c| cell(sub, c)));
            row.push(revenue(&sub["revenue"]));
            rows.push(row);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "{} to {}\n",
        report["from"].as_str().unwrap_or(""),
        report["to"].as_str().unwrap_or("")
    );
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let s = &report["store"];
    out.push_str(&format!(
        "\nstore: {} orders, revenue {}, attributed to email {} ({} orders); repeat-purchase rate {}; checkouts started {}, abandoned {}, recovered {}; subscribed {}, unsubscribed {}; bounce rate {} ({}), complaint rate {} ({})\n",
        cell(s, "orders"),
        revenue(&s["revenue"]),
        revenue(&s["attributed_revenue"]),
        cell(s, "attributed_orders"),
        cell(s, "repeat_purchase_rate"),
        cell(s, "checkouts_started"),
        cell(s, "checkouts_abandoned"),
        cell(s, "checkouts_recovered"),
        cell(s, "subscribed"),
        cell(s, "unsubscribed"),
        cell(s, "bounce_rate"),
        s["bounce_status"].as_str().unwrap_or(""),
        cell(s, "complaint_rate"),
        s["complaint_status"].as_str().unwrap_or(""),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_core::analytics::{Counts, Key, field};

    fn counts() -> Counts {
        let mut c = Counts::default();
        for (d, n) in [(1, 3), (2, 4)] {
            let day = jiff::civil::date(2026, 11, d);
            c.add(&Key::new(day, "welcome", 2, ""), field::ENTERED, n);
            c.add(&Key::new(day, "welcome", 2, "w1"), field::SENT, n);
            c.add(&Key::new(day, "welcome", 2, "w2"), field::SENT, 1);
        }
        c
    }

    /// The table's first column, row by row (header and store line left out).
    fn first_column(t: &str) -> Vec<String> {
        t.lines()
            .skip(2)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split("  ").next().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn the_table_lists_steps_or_days_under_each_journey_as_asked() {
        let by_version = table(&report::build(&counts(), None, By::Version), ByArg::Version);
        assert_eq!(first_column(&by_version), ["welcome"]);
        let by_step = table(&report::build(&counts(), None, By::Step), ByArg::Step);
        assert_eq!(first_column(&by_step), ["welcome", "", ""]);
        assert!(by_step.contains("  w1"), "{by_step}");
        assert!(by_step.contains("  w2"), "{by_step}");
        let by_day = table(&report::build(&counts(), None, By::Day), ByArg::Day);
        assert!(by_day.contains("  2026-11-01"), "{by_day}");
        assert!(by_day.contains("  2026-11-02"), "{by_day}");
        // Each step row carries its own sends: w1 sent 7 over the two days.
        let w1 = by_step
            .lines()
            .find(|l| l.trim_start().starts_with("w1"))
            .unwrap();
        assert!(w1.split_whitespace().any(|c| c == "7"), "{w1}");
    }
}
