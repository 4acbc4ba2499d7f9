//! `waymark segments …`: counts and exports segment members from the table
//! (membership is kept per event in the process path, so a count is one
//! query). Reaches DynamoDB through the standard AWS configuration
//! (`AWS_ENDPOINT_URL` for the local stack) and `TABLE_NAME`.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use waymark_app::ports::Segments;
use waymark_aws::store::DynamoStore;
use waymark_core::ids::ShopDomain;

#[derive(Subcommand)]
pub enum SegmentsCmd {
    /// Prints how many contacts are in a segment.
    Count {
        segment: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
    },
    /// Writes a segment's members as CSV (email,contact_id), e.g. for an ads audience.
    Export {
        segment: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
        /// The file to write (standard output when left out).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

async fn store(table: &str) -> DynamoStore {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
}

/// CSV-quotes a field when it needs it.
fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

pub async fn segments(cmd: SegmentsCmd) -> Result<ExitCode> {
    match cmd {
        SegmentsCmd::Count {
            segment,
            shop,
            table,
        } => {
            let n = store(&table)
                .await
                .count(&ShopDomain::parse(&shop)?, &segment)
                .await?;
            println!("{n}");
        }
        SegmentsCmd::Export {
            segment,
            shop,
            table,
            out,
        } => {
            let members = store(&table)
                .await
                .members(&ShopDomain::parse(&shop)?, &segment)
                .await?;
            let mut text = String::from("email,contact_id\n");
            for m in &members {
                let email = m.email.as_ref().map(|e| e.as_str()).unwrap_or_default();
                text.push_str(&format!("{},{}\n", csv(email), csv(m.contact.as_str())));
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("{} member(s) → {}", members.len(), path.display());
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
