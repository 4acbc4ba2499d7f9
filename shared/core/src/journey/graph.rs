//! Diagrams of a journey for people who would rather look than read YAML:
//! Mermaid (renders in GitHub and most docs tools) and Graphviz DOT.

use super::definition::{DateRef, Definition, StepKind, Update};
use super::successors;
use std::fmt::Write as _;

/// One labelled edge of the flow; `None` as target is the end.
struct Edge {
    from: String,
    to: Option<usize>,
    label: String,
}

/// A one-line description of step `i` (what the diagrams label it with).
pub fn describe(d: &Definition, i: usize) -> String {
    let s = &d.steps[i];
    let what = match &s.kind {
        StepKind::Wait {
            duration,
            from_trigger,
        } => format!(
            "wait {}{}",
            human(*duration),
            if *from_trigger {
                " from the trigger"
            } else {
                ""
            }
        ),
        StepKind::WaitUntil { time, days } => wait_until(*time, days),
        StepKind::WaitDate { date, offset, .. } => wait_date(date, *offset),
        StepKind::Coupon(c) => format!(
            "coupon {} ({}, valid {})",
            c.name,
            c.discount,
            human(c.valid_for.0)
        ),
        StepKind::WaitFor {
            events, timeout, ..
        } => {
            format!("wait up to {} for {}", human(*timeout), events.join(" or "))
        }
        StepKind::If { conditions, .. } => format!("if {}", names(conditions)),
        StepKind::Split { .. } => "random split".into(),
        StepKind::Email {
            template,
            transactional,
        } => format!(
            "email {template}{}",
            if *transactional {
                " (transactional)"
            } else {
                ""
            }
        ),
        StepKind::Update(u) => update(u),
        StepKind::Emit { detail_type } => format!("emit {detail_type}"),
        StepKind::Exit => "exit".into(),
    };
    format!("{}: {what}", s.id)
}

/// "wait until 09:00 (mon, tue)".
fn wait_until(time: jiff::civil::Time, days: &[jiff::civil::Weekday]) -> String {
    let days: Vec<String> = days
        .iter()
        .map(|d| format!("{d:?}")[..3].to_lowercase())
        .collect();
    if days.is_empty() {
        format!("wait until {}", time.strftime("%H:%M"))
    } else {
        format!(
            "wait until {} ({})",
            time.strftime("%H:%M"),
            days.join(", ")
        )
    }
}

/// "wait until 2d before coupon welcome expires".
fn wait_date(date: &DateRef, offset: jiff::SignedDuration) -> String {
    let what = match date {
        DateRef::CouponExpiry(name) => format!("coupon {name} expires"),
        DateRef::Property(key) => key.clone(),
        DateRef::NextBilling => "the next billing".into(),
        DateRef::MidCycle => "mid-cycle".into(),
    };
    if offset.is_zero() {
        format!("wait until {what}")
    } else if offset.is_negative() {
        format!("wait until {} before {what}", human(-offset))
    } else {
        format!("wait until {} after {what}", human(offset))
    }
}

/// "update: tag vip; score +5".
fn update(u: &Update) -> String {
    let mut parts = Vec::new();
    if !u.tag.is_empty() {
        parts.push(format!("tag {}", u.tag.join(", ")));
    }
    if !u.untag.is_empty() {
        parts.push(format!("untag {}", u.untag.join(", ")));
    }
    if !u.set.is_empty() {
        parts.push(format!(
            "set {}",
            u.set.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if u.score != 0 {
        parts.push(format!("score {:+}", u.score));
    }
    if let Some(stage) = &u.stage {
        parts.push(format!("stage {stage}"));
    }
    format!("update: {}", parts.join("; "))
}

fn names(conditions: &[super::Condition]) -> String {
    conditions
        .iter()
        .map(|c| format!("{c:?}"))
        .map(|c| snake(&c))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `HasTag("vip")` → `has_tag("vip")`, for labels.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in debug.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            prev_lower = c.is_ascii_lowercase();
            out.push(c);
        }
    }
    out
}

fn human(d: jiff::SignedDuration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn edges(d: &Definition) -> Vec<Edge> {
    let mut out = Vec::new();
    for (i, s) in d.steps.iter().enumerate() {
        let from = format!("s{i}");
        match &s.kind {
            StepKind::WaitFor {
                events,
                on_event,
                on_timeout,
                ..
            } => {
                out.push(Edge {
                    from: from.clone(),
                    to: *on_event,
                    label: events.join(" or "),
                });
                out.push(Edge {
                    from,
                    to: *on_timeout,
                    label: "timeout".into(),
                });
            }
            StepKind::If {
                then, otherwise, ..
            } => {
                out.push(Edge {
                    from: from.clone(),
                    to: *then,
                    label: "yes".into(),
                });
                out.push(Edge {
                    from,
                    to: *otherwise,
                    label: "no".into(),
                });
            }
            StepKind::Split { branches } => {
                let total: u32 = branches.iter().map(|b| b.weight).sum();
                for b in branches {
                    out.push(Edge {
                        from: from.clone(),
                        to: b.target,
                        label: format!("{} {}%", b.name, b.weight * 100 / total.max(1)),
                    });
                }
            }
            _ => {
                for to in successors(s) {
                    out.push(Edge {
                        from: from.clone(),
                        to,
                        label: String::new(),
                    });
                }
            }
        }
    }
    out
}

fn quote(s: &str) -> String {
    s.replace('"', "'")
}

/// A Mermaid flowchart of the journey.
pub fn mermaid(d: &Definition) -> String {
    let mut out = String::from("flowchart TD\n");
    let trigger = if d.trigger.conditions.is_empty() {
        d.trigger.event.clone()
    } else {
        format!("{} when {}", d.trigger.event, names(&d.trigger.conditions))
    };
    let _ = writeln!(
        out,
        "  trigger([\"{}\"])",
        quote(&format!("{}: {trigger}", d.name))
    );
    if !d.steps.is_empty() {
        let _ = writeln!(out, "  trigger --> s0");
    }
    for i in 0..d.steps.len() {
        let shape = match d.steps[i].kind {
            StepKind::If { .. } | StepKind::Split { .. } => ("{", "}"),
            StepKind::Wait { .. }
            | StepKind::WaitUntil { .. }
            | StepKind::WaitFor { .. }
            | StepKind::WaitDate { .. } => ("[/", "/]"),
            _ => ("[", "]"),
        };
        let _ = writeln!(
            out,
            "  s{i}{}\"{}\"{}",
            shape.0,
            quote(&describe(d, i)),
            shape.1
        );
    }
    let _ = writeln!(out, "  done([end])");
    for e in edges(d) {
        let to = e.to.map_or("done".to_string(), |t| format!("s{t}"));
        if e.label.is_empty() {
            let _ = writeln!(out, "  {} --> {to}", e.from);
        } else {
            let _ = writeln!(out, "  {} -- \"{}\" --> {to}", e.from, quote(&e.label));
        }
    }
    for (i, g) in d.goals.iter().enumerate() {
        let _ = writeln!(
            out,
            "  goal{i}{{{{\"goal: {} (at any step)\"}}}}",
            quote(&g.event)
        );
    }
    for (i, x) in d.exits.iter().enumerate() {
        let _ = writeln!(
            out,
            "  exit{i}{{{{\"exit: {} when {}\"}}}}",
            quote(&x.event),
            quote(&names(&x.when_any).replace(" and ", " or "))
        );
    }
    out
}

/// A Graphviz DOT digraph of the journey.
pub fn dot(d: &Definition) -> String {
    let mut out = format!("digraph \"{}\" {{\n  rankdir=TB;\n", quote(&d.id));
    let _ = writeln!(
        out,
        "  trigger [shape=oval, label=\"{}: {}\"];",
        quote(&d.name),
        quote(&d.trigger.event)
    );
    if !d.steps.is_empty() {
        let _ = writeln!(out, "  trigger -> s0;");
    }
    for i in 0..d.steps.len() {
        let shape = match d.steps[i].kind {
            StepKind::If { .. } | StepKind::Split { .. } => "diamond",
            _ => "box",
        };
        let _ = writeln!(
            out,
            "  s{i} [shape={shape}, label=\"{}\"];",
            quote(&describe(d, i))
        );
    }
    let _ = writeln!(out, "  done [shape=oval, label=\"end\"];");
    for e in edges(d) {
        let to = e.to.map_or("done".to_string(), |t| format!("s{t}"));
        let _ = writeln!(out, "  {} -> {to} [label=\"{}\"];", e.from, quote(&e.label));
    }
    out.push_str("}\n");
    out
}
