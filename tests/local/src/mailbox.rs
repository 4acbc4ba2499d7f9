//! Reads the emails the emulator's SES accepted (moto keeps raw messages
//! whole, headers included) from its `/moto-api/data.json`.

use anyhow::{Result, anyhow};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct SentEmail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

impl SentEmail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The HTTPS URL of its `List-Unsubscribe` header (marketing email).
    pub fn unsubscribe_url(&self) -> Option<String> {
        self.header("List-Unsubscribe")?
            .split(['<', '>'])
            .find(|p| p.starts_with("http"))
            .map(str::to_string)
    }
}

/// Every raw email the emulator at `endpoint` has accepted, oldest first.
pub async fn sent(endpoint: &str) -> Result<Vec<SentEmail>> {
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await?
        .json()
        .await?;
    let mut out = Vec::new();
    for m in data["ses"]["RawMessage"].as_array().into_iter().flatten() {
        let raw = m["raw_data"]
            .as_str()
            .ok_or_else(|| anyhow!("raw message without raw_data"))?;
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .ok_or_else(|| anyhow!("unparseable MIME message"))?;
        let mut to: Vec<String> = m["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_string))
            .collect();
        to.dedup();
        out.push(SentEmail {
            from: m["source"].as_str().unwrap_or_default().to_string(),
            to,
            subject: parsed.subject().unwrap_or_default().to_string(),
            text: parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: parsed
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            headers: parsed
                .headers_raw()
                .map(|(n, v)| (n.to_string(), v.trim().to_string()))
                .collect(),
        });
    }
    Ok(out)
}
