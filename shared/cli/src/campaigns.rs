//! `waymark campaigns …`: campaign files (`campaigns/<id>.yaml`) checked and
//! previewed before they are scheduled.

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use waymark_core::campaign::{self, Campaign};
use waymark_core::journey::{Catalog, ContentFile};

#[derive(Subcommand)]
pub enum Campaigns {
    /// Checks every campaign file against the journeys' content (segments,
    /// templates, topics); reports file, line and problem; non-zero exit on
    /// any.
    Validate {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Writes the campaign to the table (through `AWS_ENDPOINT_URL`): the
    /// timer sends it at its time. No redeploy: the definition travels with
    /// the schedule (its templates must be deployed).
    Schedule {
        id: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Where a campaign stands: audience, sent, skipped by reason, failed,
    /// the A/B test and its winner (JSON).
    Status {
        id: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
    },
    /// Stops a campaign: nothing more is recorded, and recorded sends not
    /// yet queued are dropped (queued ones still go).
    Cancel {
        id: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
    },
    /// Sends the campaign's email (each A/B variant) to one address, marked
    /// `[test]`, through SES (`SENDER_EMAIL`, `SENDER_NAME`).
    SendTest {
        id: String,
        #[arg(long)]
        to: String,
        /// JSON with the contact's fields the email is rendered for.
        #[arg(long)]
        contact: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Renders a campaign's email (each A/B variant) to HTML and text files.
    Preview {
        id: String,
        /// JSON with the contact's fields: {"first_name": …, "email": …}.
        #[arg(long)]
        contact: Option<PathBuf>,
        /// Where the files go.
        #[arg(long, default_value = "target/preview")]
        out: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

/// The campaign files under `root/campaigns`, in name order.
fn files(root: &Path) -> Result<Vec<ContentFile>> {
    let dir = root.join(campaign::DIR);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(ContentFile {
                path: format!("{}{name}", campaign::DIR),
                text: std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// (name, subject, template) of each email a campaign sends: its A/B
/// variants, or the one email.
/// The campaign's preheader, when it sets one, in place of the template's.
fn with_preheader(html: &str, c: &Campaign) -> String {
    match &c.preheader {
        Some(p) => waymark_core::email::with_preheader(html, p),
        None => html.to_string(),
    }
}

fn variants(c: &Campaign) -> Vec<(String, Option<String>, String)> {
    match &c.ab_test {
        None => vec![c.email(None)],
        Some(ab) => ab.variants.iter().map(|v| c.email(Some(&v.name))).collect(),
    }
}

fn checked(root: &Path, catalog: &Catalog) -> Result<(Vec<Campaign>, usize)> {
    let mut campaigns = Vec::new();
    let mut problems = 0;
    for f in files(root)? {
        match campaign::parse(&f, catalog) {
            Ok(c) => campaigns.push(c),
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                problems += errors.len();
            }
        }
    }
    Ok((campaigns, problems))
}

/// The campaign `id`, checked against the content under `root`.
fn load(root: &Path, id: &str) -> Result<Option<(Catalog, Campaign)>> {
    let Some(catalog) = crate::content::load_or_report(root)? else {
        return Ok(None);
    };
    let f = files(root)?
        .into_iter()
        .find(|f| f.path == format!("{}{id}.yaml", campaign::DIR))
        .ok_or_else(|| anyhow!("no campaign `{id}` in {}/campaigns", root.display()))?;
    match campaign::parse(&f, &catalog) {
        Ok(c) => Ok(Some((catalog, c))),
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            Ok(None)
        }
    }
}

async fn store(table: &str) -> waymark_aws::store::DynamoStore {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    waymark_aws::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
}

fn shop(raw: &str) -> Result<waymark_core::ids::ShopDomain> {
    waymark_core::ids::ShopDomain::parse(raw).map_err(|e| anyhow!("--shop: {e}"))
}

pub async fn campaigns(cmd: Campaigns) -> Result<ExitCode> {
    use waymark_app::ports::CampaignStore;
    match cmd {
        Campaigns::Schedule {
            id,
            shop: s,
            table,
            root,
        } => {
            let Some((_, c)) = load(&root, &id)? else {
                return Ok(ExitCode::FAILURE);
            };
            let shop = shop(&s)?;
            let store = store(&table).await;
            if !store.schedule(&shop, &c, jiff::Timestamp::now()).await? {
                let done = store
                    .campaign(&shop, &id)
                    .await?
                    .is_some_and(|r| r.state.phase == waymark_app::ports::CampaignPhase::Done);
                if done {
                    bail!(
                        "campaign `{id}` was sent already: a new send needs a new id (copy campaigns/{id}.yaml to, say, {id}_2 and schedule that); its recipients stay recorded under `{id}` for 90 days, so sending it again would skip them"
                    );
                }
                bail!("campaign `{id}` is being sent; cancel it first or wait until it is done");
            }
            println!("scheduled `{id}`: starts {}", c.starts_at());
            Ok(ExitCode::SUCCESS)
        }
        Campaigns::Status { id, shop: s, table } => {
            let shop = shop(&s)?;
            let store = store(&table).await;
            match waymark_app::campaigns::status(&store, &shop, &id).await? {
                Some(v) => {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                    Ok(ExitCode::SUCCESS)
                }
                None => bail!("no campaign `{id}` is scheduled"),
            }
        }
        Campaigns::Cancel { id, shop: s, table } => {
            let shop = shop(&s)?;
            let store = store(&table).await;
            if waymark_app::campaigns::cancel(&store, &shop, &id).await? {
                println!("cancelled `{id}`: emails of it not sent yet will not go");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!(
                    "campaign `{id}` is not scheduled or sending, and none of its emails waits to go (nothing to cancel)"
                )
            }
        }
        Campaigns::SendTest {
            id,
            to,
            contact,
            root,
        } => send_test(&id, &to, contact.as_deref(), &root).await,
        Campaigns::Validate { root } => {
            let Some(catalog) = crate::content::load_or_report(&root)? else {
                return Ok(ExitCode::FAILURE);
            };
            let (campaigns, problems) = checked(&root, &catalog)?;
            if problems > 0 {
                eprintln!("{problems} problem(s)");
                return Ok(ExitCode::FAILURE);
            }
            println!("{} campaign(s) OK", campaigns.len());
            Ok(ExitCode::SUCCESS)
        }
        Campaigns::Preview {
            id,
            contact,
            out,
            root,
        } => preview(&id, contact.as_deref(), &out, &root),
    }
}

/// Sends each variant to one address through SES, marked `[test]`.
async fn send_test(
    id: &str,
    to: &str,
    contact: Option<&std::path::Path>,
    root: &std::path::Path,
) -> Result<ExitCode> {
    let Some((catalog, c)) = load(root, id)? else {
        return Ok(ExitCode::FAILURE);
    };
    let to = waymark_core::ids::EmailAddress::parse(to).map_err(|e| anyhow!("--to: {e}"))?;
    let from = std::env::var("SENDER_EMAIL").context("SENDER_EMAIL is not set")?;
    let name = std::env::var("SENDER_NAME").unwrap_or_default();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    for (variant, subject, template) in variants(&c) {
        let rendered = crate::templates::render_for(&catalog, root, &template, contact)?;
        let subject = match subject {
            Some(s) => crate::templates::render_subject_for(&catalog, root, &s, contact)?,
            None => rendered.subject.clone(),
        };
        let subject = format!("[test] {subject}");
        let origin = catalog
            .shop()
            .and_then(|s| s.url.clone())
            .unwrap_or_default();
        let html = campaign::add_utm(&with_preheader(&rendered.html, &c), &origin, &c.utm);
        let text = campaign::add_utm(&rendered.text, &origin, &c.utm);
        let content = aws_sdk_sesv2::types::EmailContent::builder()
            .simple(
                aws_sdk_sesv2::types::Message::builder()
                    .subject(
                        aws_sdk_sesv2::types::Content::builder()
                            .data(&subject)
                            .charset("UTF-8")
                            .build()?,
                    )
                    .body(
                        aws_sdk_sesv2::types::Body::builder()
                            .html(
                                aws_sdk_sesv2::types::Content::builder()
                                    .data(html)
                                    .charset("UTF-8")
                                    .build()?,
                            )
                            .text(
                                aws_sdk_sesv2::types::Content::builder()
                                    .data(text)
                                    .charset("UTF-8")
                                    .build()?,
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        let sender = if name.is_empty() {
            from.clone()
        } else {
            format!("{name} <{from}>")
        };
        let out = ses
            .send_email()
            .from_email_address(sender)
            .destination(
                aws_sdk_sesv2::types::Destination::builder()
                    .to_addresses(to.as_str())
                    .build(),
            )
            .content(content)
            .send()
            .await
            .map_err(|e| anyhow!("SES: {}", aws_sdk_sesv2::error::DisplayErrorContext(e)))?;
        println!(
            "{variant}: \"{subject}\" sent to {to} ({})",
            out.message_id.unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes each variant's HTML and text (with UTM tags) to `out`.
fn preview(
    id: &str,
    contact: Option<&std::path::Path>,
    out: &std::path::Path,
    root: &std::path::Path,
) -> Result<ExitCode> {
    let Some((catalog, c)) = load(root, id)? else {
        return Ok(ExitCode::FAILURE);
    };
    std::fs::create_dir_all(out)?;
    for (name, subject, template) in variants(&c) {
        let rendered = crate::templates::render_for(&catalog, root, &template, contact)?;
        let subject = match subject {
            Some(s) => crate::templates::render_subject_for(&catalog, root, &s, contact)?,
            None => rendered.subject.clone(),
        };
        let origin = catalog
            .shop()
            .and_then(|s| s.url.clone())
            .unwrap_or_default();
        let utm = |text: &str| campaign::add_utm(text, &origin, &c.utm);
        let base = out.join(format!("{}-{name}", c.id));
        let html = base.with_extension("html");
        let text = base.with_extension("txt");
        std::fs::write(&html, utm(&with_preheader(&rendered.html, &c)))?;
        std::fs::write(
            &text,
            format!("Subject: {subject}\n\n{}", utm(&rendered.text)),
        )?;
        println!(
            "{name}: \"{subject}\" → {} and {}",
            html.display(),
            text.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
