//! Email templates and rendering: a subject, a plain-text part and an HTML
//! part per template, in a Jinja-style language, rendered strictly (a missing
//! variable is an error, never a half-rendered email), then built into a MIME
//! message. Sending is not done here.

use crate::journey::{ContentError, ContentFile};
use crate::money::Money;
use crate::outbox::OutboxMessage;
use minijinja::{Environment, UndefinedBehavior, Value};
use std::collections::BTreeMap;

/// The three parts of one template, as source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

impl Template {
    /// Assembles and syntax-checks a template from its folder's files.
    pub(crate) fn from_parts(
        name: &str,
        files: &BTreeMap<String, &ContentFile>,
    ) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        let mut text = |part: &str| match files.get(part) {
            Some(f) => f.text.clone(),
            None => {
                errors.push(ContentError {
                    path: format!("templates/{name}/{part}"),
                    line: 1,
                    column: 1,
                    message: format!("template `{name}` has no {part}"),
                });
                String::new()
            }
        };
        let t = Self {
            name: name.to_string(),
            subject: text(PARTS[0]).trim().to_string(),
            text: text(PARTS[1]),
            html: text(PARTS[2]),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut env = environment();
        for (part, source) in PARTS.iter().zip([&t.subject, &t.text, &t.html]) {
            if let Err(e) = env.add_template_owned(format!("{name}/{part}"), source.clone()) {
                errors.push(ContentError {
                    path: format!("templates/{name}/{part}"),
                    line: e.line().unwrap_or(1),
                    column: 1,
                    message: e.to_string(),
                });
            }
        }
        if errors.is_empty() {
            Ok(t)
        } else {
            Err(errors)
        }
    }
}

/// A rendered email, ready to be built into MIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a message could not be rendered: parks the message with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template `{template}`: {detail}")]
pub struct RenderError {
    pub template: String,
    pub detail: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_filter("money", money_filter);
    env
}

/// `{{ item.price | money }}` → `29.00 EUR`.
fn money_filter(value: Value) -> Result<String, minijinja::Error> {
    let money: Money = serde_json::to_value(&value)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`money` expects {{amount_minor, currency}}, got {value}"),
            )
        })?;
    Ok(money.to_string())
}

/// Renders every template of a catalog; built once per process.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a Template>) -> Self {
        let mut env = environment();
        for t in templates {
            for (part, source) in PARTS.iter().zip([&t.subject, &t.text, &t.html]) {
                // Already syntax-checked when the catalog was built.
                let _ = env.add_template_owned(format!("{}/{part}", t.name), source.clone());
            }
        }
        Self { env }
    }

    pub fn render(
        &self,
        template: &str,
        params: &serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let ctx = Value::from_serialize(params);
        let part = |p: &str| {
            self.env
                .get_template(&format!("{template}/{p}"))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| RenderError {
                    template: template.to_string(),
                    detail: describe(&e),
                })
        };
        Ok(Rendered {
            subject: part(PARTS[0])?.trim().replace(['\r', '\n'], " "),
            text: part(PARTS[1])?,
            html: part(PARTS[2])?,
        })
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e.to_string();
    if let Some(line) = e.line() {
        s.push_str(&format!(" (line {line})"));
    }
    s
}

/// The sender identity, from configuration.
#[derive(Debug, Clone)]
pub struct Sender {
    pub name: String,
    pub address: crate::ids::EmailAddress,
}

/// Where a marketing email's recipient can unsubscribe (RFC 2369, RFC 8058).
#[derive(Debug, Clone)]
pub struct UnsubscribeLinks {
    /// HTTPS URL that accepts the one-click POST.
    pub url: String,
    pub mailto: String,
}

/// Builds the raw MIME message (multipart/alternative) for one outbox message.
/// Headers are explicit and deterministic: the Date is the message's logical time.
pub fn mime(
    sender: &Sender,
    message: &OutboxMessage,
    rendered: &Rendered,
    unsubscribe: Option<&UnsubscribeLinks>,
) -> Vec<u8> {
    let domain = sender
        .address
        .as_str()
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("waymark.invalid");
    let mut builder = mail_builder::MessageBuilder::new()
        .from((sender.name.as_str(), sender.address.as_str()))
        .to(message.to.as_str())
        .subject(rendered.subject.as_str())
        .message_id(format!("{}@{domain}", message.id))
        .date(message.queued_at.as_second())
        .header(
            "X-Waymark-Message",
            mail_builder::headers::raw::Raw::new(format!(
                "{}; journey={}; step={}",
                message.id, message.journey, message.step
            )),
        )
        .text_body(rendered.text.as_str())
        .html_body(rendered.html.as_str());
    if let Some(u) = unsubscribe {
        builder = builder
            .header(
                "List-Unsubscribe",
                mail_builder::headers::raw::Raw::new(format!("<{}>, <{}>", u.url, u.mailto)),
            )
            .header(
                "List-Unsubscribe-Post",
                mail_builder::headers::raw::Raw::new("List-Unsubscribe=One-Click"),
            );
    }
    builder
        .write_to_vec()
        .expect("writing MIME to memory cannot fail")
}

/// Renders a content file set's templates for tests and tools.
pub fn renderer_for(files: &[ContentFile]) -> Result<Renderer, Vec<ContentError>> {
    let catalog = crate::journey::Catalog::from_files(files)?;
    Ok(Renderer::new(catalog.templates()))
}
