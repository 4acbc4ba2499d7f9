//! `waymark segments …`: counts and exports segment members from the table
//! (membership is kept per event in the process path, so a count is one
//! query). Reaches DynamoDB through the standard AWS configuration
//! (`AWS_ENDPOINT_URL` for the local stack) and `TABLE_NAME`.

use anyhow::{Context, Result};
use clap::Subcommand;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use waymark_app::ports::{ContactStore, Segments, Suppressions};
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
    /// Writes a segment's members as CSV (email,contact_id), e.g. for an ads
    /// audience: people who opted out or are suppressed are left out unless
    /// `--all`.
    Export {
        segment: String,
        #[arg(long, default_value = "demo.myshopify.com")]
        shop: String,
        #[arg(long, env = "TABLE_NAME", default_value = "waymark")]
        table: String,
        /// The file to write (standard output when left out).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Everyone in the segment, including people who opted out of
        /// marketing or whose address is suppressed (bounces, complaints).
        #[arg(long)]
        all: bool,
    },
}

async fn store(table: &str) -> DynamoStore {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
}

/// A CSV field: a cell a spreadsheet would run as a formula (`=`, `+`, `-`,
/// `@`, tab, carriage return first) is prefixed with `'`; quoted when it
/// needs it.
pub(crate) fn csv(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// Whether a member may be exported for marketing: the contact consents and
/// the address is not suppressed.
async fn marketable(
    store: &DynamoStore,
    shop: &ShopDomain,
    m: &waymark_app::ports::Member,
) -> Result<bool> {
    let Some(email) = &m.email else {
        return Ok(false);
    };
    if store.suppression(shop, email).await?.is_some() {
        return Ok(false);
    }
    let state = store.load_for_update(shop, &m.contact).await?;
    Ok(state.is_some_and(|s| s.contact.accepts_marketing()))
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
            all,
        } => {
            let shop = ShopDomain::parse(&shop)?;
            let store = store(&table).await;
            let members = store.members(&shop, &segment).await?;
            let mut text = String::from("email,contact_id\n");
            let (mut written, mut left_out) = (0, 0);
            for m in &members {
                if !all && !marketable(&store, &shop, m).await? {
                    left_out += 1;
                    continue;
                }
                let email = m.email.as_ref().map(|e| e.as_str()).unwrap_or_default();
                text.push_str(&format!("{},{}\n", csv(email), csv(m.contact.as_str())));
                written += 1;
            }
            if left_out > 0 {
                eprintln!(
                    "{left_out} member(s) left out: opted out or suppressed (--all includes them)"
                );
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("{written} member(s) → {}", path.display());
                }
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::csv;

    #[test]
    fn formula_cells_are_neutralised_and_quoting_still_holds() {
        assert_eq!(
            csv("=HYPERLINK(\"https://evil.example\")"),
            "\"'=HYPERLINK(\"\"https://evil.example\"\")\""
        );
        assert_eq!(csv("+1-555"), "'+1-555");
        assert_eq!(csv("-x@example.com"), "'-x@example.com");
        assert_eq!(csv("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv("ana@example.com"), "ana@example.com");
        assert_eq!(csv("a,b"), "\"a,b\"");
    }
}
