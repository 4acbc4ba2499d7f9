//! `waymark`: the command a team uses beside its deploy. `local …` drives the
//! local stack (see the README's contract); `journeys validate` checks the
//! content files. It never runs inside a Lambda function.

mod campaigns;
mod content;
mod dlq;
mod local;
mod report;
#[cfg(test)]
mod report_browser_tests;
mod report_html;
mod segments;
mod simulate;
mod templates;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "waymark",
    version,
    about = "Waymark: journeys, segments and templates as code, on your own AWS account"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack: resources, runner, ticks, the emails SES accepted.
    #[command(subcommand)]
    Local(local::Local),
    /// Journey definitions.
    #[command(subcommand)]
    Journeys(content::Journeys),
    /// Email templates.
    #[command(subcommand)]
    Templates(templates::Templates),
    /// Segment counts and exports.
    #[command(subcommand)]
    Segments(segments::SegmentsCmd),
    /// Results: what each journey sent, earned and converted.
    Report(report::ReportArgs),
    /// Campaign files: validate and preview.
    #[command(subcommand)]
    Campaigns(campaigns::Campaigns),
    /// What failed for good (parked messages, failure queues): list, redrive.
    #[command(subcommand)]
    Dlq(dlq::Dlq),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Local(cmd) => local::run(cmd).await,
        Command::Journeys(cmd) => content::journeys(cmd).await,
        Command::Templates(cmd) => templates::templates(cmd),
        Command::Segments(cmd) => segments::segments(cmd).await,
        Command::Report(args) => report::report(args).await,
        Command::Campaigns(cmd) => campaigns::campaigns(cmd).await,
        Command::Dlq(cmd) => dlq::dlq(cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("waymark: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
