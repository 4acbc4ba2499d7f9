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
    /// `abandoned_checkout_1`, or `abandoned_checkout_1@fr` for a locale variant.
    pub name: String,
    /// Its folder, e.g. `templates/abandoned_checkout_1/fr`.
    pub dir: String,
    pub subject: String,
    pub text: String,
    /// The HTML part's source: HTML, or MJML when `mjml` is set.
    pub html: String,
    /// The HTML part is written in MJML (`body.mjml`), compiled after rendering.
    pub mjml: bool,
    /// The inbox preview line, hidden at the top of the HTML part.
    pub preheader: Option<String>,
}

const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];
const MJML: &str = "body.mjml";
const PREHEADER: &str = "preheader.txt";

impl Template {
    /// Each part's file name and source.
    fn parts(&self) -> impl Iterator<Item = (&'static str, &String)> {
        let html = if self.mjml { MJML } else { PARTS[2] };
        [PARTS[0], PARTS[1], html]
            .into_iter()
            .zip([&self.subject, &self.text, &self.html])
            .chain(self.preheader.iter().map(|p| (PREHEADER, p)))
    }

    /// Assembles and syntax-checks a template from its folder's files.
    pub(crate) fn from_parts(
        name: &str,
        dir: &str,
        files: &BTreeMap<String, &ContentFile>,
    ) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        let mut text = |part: &str| match files.get(part) {
            Some(f) => f.text.clone(),
            None => {
                errors.push(ContentError {
                    path: format!("{dir}/{part}"),
                    line: 1,
                    column: 1,
                    message: format!("template `{name}` has no {part}"),
                });
                String::new()
            }
        };
        let mjml = files.get(MJML).map(|f| f.text.clone());
        let both = mjml.is_some() && files.contains_key(PARTS[2]);
        let t = Self {
            name: name.to_string(),
            dir: dir.to_string(),
            subject: text(PARTS[0]).trim().to_string(),
            text: text(PARTS[1]),
            mjml: mjml.is_some(),
            html: match mjml {
                Some(source) => source,
                None => text(PARTS[2]),
            },
            preheader: files.get(PREHEADER).map(|f| f.text.trim().to_string()),
        };
        if both {
            errors.push(ContentError {
                path: format!("{dir}/{MJML}"),
                line: 1,
                column: 1,
                message: format!("template `{name}` has both body.html and body.mjml: keep one"),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut env = environment();
        for (part, source) in t.parts() {
            if let Err(e) = env.add_template_owned(format!("{name}/{part}"), source.clone()) {
                errors.push(ContentError {
                    path: format!("{dir}/{part}"),
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
#[error("template `{template}` ({dir}/{part}{}): {detail}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RenderError {
    pub template: String,
    pub dir: String,
    /// `subject.txt`, `body.txt` or `body.html`.
    pub part: String,
    pub line: Option<usize>,
    pub detail: String,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") || name.ends_with(".mjml") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.add_filter("money", money_filter);
    env.add_filter("date", date_filter);
    env
}

/// Whether `source` is well-formed in the template language (what a
/// campaign file's subject is checked with before anything is sent).
pub fn check_line(source: &str) -> Result<(), String> {
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `{{ coupons.welcome.expires_at | date }}`: `7 December 2026` (UTC).
fn date_filter(value: String) -> Result<String, minijinja::Error> {
    let at: jiff::Timestamp = value.parse().map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("`date` expects an RFC 3339 timestamp, got `{value}`: {e}"),
        )
    })?;
    Ok(at.strftime("%-d %B %Y").to_string())
}

/// `{{ item.price | money }}`: in the contact's locale (`€29.00`, `29,00 €`),
/// else `29.00 EUR`.
fn money_filter(state: &minijinja::State, value: Value) -> Result<String, minijinja::Error> {
    let locale = state
        .lookup("contact")
        .and_then(|c| c.get_attr("locale").ok())
        .and_then(|l| l.as_str().map(str::to_string));
    let money: Money = serde_json::to_value(&value)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("`money` expects {{amount_minor, currency}}, got {value}"),
            )
        })?;
    Ok(money.format_for(locale.as_deref()))
}

/// Renders every template of a catalog; built once per process.
pub struct Renderer {
    env: Environment<'static>,
    /// Template name → its folder (for error messages) and whether its HTML is MJML.
    dirs: BTreeMap<String, (String, bool)>,
}

impl Renderer {
    pub fn new<'a>(templates: impl IntoIterator<Item = &'a Template>) -> Self {
        let mut env = environment();
        let mut dirs = BTreeMap::new();
        for t in templates {
            dirs.insert(t.name.clone(), (t.dir.clone(), t.mjml));
            for (part, source) in t.parts() {
                // Already syntax-checked when the catalog was built.
                let _ = env.add_template_owned(format!("{}/{part}", t.name), source.clone());
            }
        }
        Self { env, dirs }
    }

    /// Every template of the catalog, with the shop (name, address, URL)
    /// as the global `shop` for footers.
    pub fn for_catalog(catalog: &crate::journey::Catalog) -> Self {
        let mut r = Self::new(catalog.templates());
        if let Some(shop) = catalog.shop() {
            r.env.add_global("shop", Value::from_serialize(shop));
        }
        r
    }

    /// One line written in the template language — a campaign's subject,
    /// `{{ contact.first_name | default("Hello") }}, 30 % off` — rendered
    /// as strictly as a template's `subject.txt`, on one line.
    pub fn render_line(&self, source: &str, params: &serde_json::Value) -> Result<String, String> {
        self.env
            .render_str(source, Value::from_serialize(params))
            .map(|line| line.trim().replace(['\r', '\n'], " "))
            .map_err(|e| e.to_string())
    }

    /// The variant for `locale` (`fr-ca`, then `fr`), else the default.
    pub fn resolve(&self, template: &str, locale: Option<&str>) -> String {
        let Some(locale) = locale.map(str::to_ascii_lowercase) else {
            return template.to_string();
        };
        let language = locale
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_string();
        [locale, language]
            .into_iter()
            .map(|l| format!("{template}@{l}"))
            .find(|name| self.dirs.contains_key(name))
            .unwrap_or_else(|| template.to_string())
    }

    /// Renders `template` in the contact's locale (`params.contact.locale`).
    pub fn render(
        &self,
        template: &str,
        params: &serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let locale = params["contact"]["locale"].as_str();
        self.render_exactly(&self.resolve(template, locale), params)
    }

    /// Renders one template (or variant) by its full name.
    pub fn render_exactly(
        &self,
        template: &str,
        params: &serde_json::Value,
    ) -> Result<Rendered, RenderError> {
        let ctx = Value::from_serialize(params);
        let (dir, mjml) = self
            .dirs
            .get(template)
            .cloned()
            .unwrap_or_else(|| (format!("templates/{template}"), false));
        let part = |p: &str| {
            self.env
                .get_template(&format!("{template}/{p}"))
                .and_then(|t| t.render(&ctx))
                .map_err(|e| RenderError {
                    template: template.to_string(),
                    dir: dir.clone(),
                    part: p.to_string(),
                    line: e.line(),
                    detail: e.to_string(),
                })
        };
        let mut html = if mjml {
            compile_mjml(&part(MJML)?).map_err(|detail| RenderError {
                template: template.to_string(),
                dir: dir.clone(),
                part: MJML.to_string(),
                line: None,
                detail,
            })?
        } else {
            part(PARTS[2])?
        };
        if self
            .env
            .get_template(&format!("{template}/{PREHEADER}"))
            .is_ok()
        {
            html = with_preheader(&html, &part(PREHEADER)?);
        }
        Ok(Rendered {
            subject: part(PARTS[0])?.trim().replace(['\r', '\n'], " "),
            text: part(PARTS[1])?,
            html,
        })
    }
}

/// The hidden preheader's opening tag: inbox previews show its text after
/// the subject.
const PREHEADER_DIV: &str =
    "<div data-preheader style=\"display:none;max-height:0;overflow:hidden;mso-hide:all;\">";

/// `html` with `text` as its preheader (escaped), right after `<body …>`
/// where inbox previews read it; a preheader it had is replaced. A blank
/// `text` leaves `html` as it was.
pub fn with_preheader(html: &str, text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return html.to_string();
    }
    let mut html = html.to_string();
    if let Some(start) = html.find(PREHEADER_DIV)
        && let Some(len) = html[start..].find("</div>")
    {
        html.replace_range(start..start + len + "</div>".len(), "");
    }
    let at = html
        .find("<body")
        .and_then(|b| html[b..].find('>').map(|e| b + e + 1))
        .unwrap_or(0);
    html.insert_str(at, &format!("{PREHEADER_DIV}{}</div>", escape_html(text)));
    html
}

/// MJML (after variables are filled in) → responsive email HTML.
fn compile_mjml(source: &str) -> Result<String, String> {
    let root = mrml::parse(source).map_err(|e| format!("MJML: {e}"))?;
    root.element
        .render(&mrml::prelude::render::RenderOptions::default())
        .map_err(|e| format!("MJML: {e}"))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
    /// A `mailto:` target, only where someone reads that mailbox and acts
    /// on it (e.g. SES inbound): an unread one is a broken promise.
    pub mailto: Option<String>,
}

/// Builds the raw MIME message (multipart/alternative) for one outbox message.
/// Headers are explicit and deterministic: the Date is the message's logical time.
pub fn mime(
    sender: &Sender,
    message: &OutboxMessage,
    to: &crate::ids::EmailAddress,
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
        .to(to.as_str())
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
                mail_builder::headers::raw::Raw::new(match &u.mailto {
                    Some(m) => format!("<{}>, <{m}>", u.url),
                    None => format!("<{}>", u.url),
                }),
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

#[cfg(test)]
mod tests {

    #[test]
    fn a_preheader_goes_after_body_once_escaped_and_replaces_the_templates() {
        let html = "<html><body class=\"x\"><p>Hi</p></body></html>";
        let once = super::with_preheader(html, "Our <new> range");
        assert!(
            once.starts_with("<html><body class=\"x\"><div data-preheader"),
            "{once}"
        );
        assert!(
            once.contains(">Our &lt;new&gt; range</div><p>Hi</p>"),
            "{once}"
        );
        let twice = super::with_preheader(&once, "Last chance");
        assert_eq!(twice.matches("data-preheader").count(), 1, "{twice}");
        assert!(twice.contains(">Last chance</div>") && !twice.contains("new&gt;"));
        assert_eq!(super::with_preheader(html, "  "), html, "blank: nothing");
    }
    use super::*;
    use proptest::prelude::*;

    fn renderer() -> Renderer {
        let files = crate::repo_content::files(&crate::repo_content::root());
        let catalog = crate::journey::Catalog::from_files(&files).unwrap();
        Renderer::new(catalog.templates())
    }

    fn params(name: &str, title: &str) -> serde_json::Value {
        serde_json::json!({
            "contact": {"first_name": name, "last_name": null, "email": "a@example.com"},
            "checkout": {
                "token": "t",
                "line_items": [{"title": title, "variant_title": null, "quantity": 1,
                                "price": {"amount_minor": 100, "currency": "EUR"}}],
                "total": null,
                "recovery_url": "https://shop.example/r?a=1&b=2",
            },
            "unsubscribe_url": "https://prefs.example/u?t=x",
        })
    }

    #[test]
    fn locale_variants_are_chosen_by_the_contacts_locale_with_a_fallback() {
        let r = renderer();
        assert_eq!(
            r.resolve("abandoned_checkout_1", Some("fr-FR")),
            "abandoned_checkout_1@fr"
        );
        assert_eq!(
            r.resolve("abandoned_checkout_1", Some("FR")),
            "abandoned_checkout_1@fr"
        );
        assert_eq!(
            r.resolve("abandoned_checkout_1", Some("de")),
            "abandoned_checkout_1"
        );
        assert_eq!(
            r.resolve("abandoned_checkout_1", None),
            "abandoned_checkout_1"
        );
        let mut p = params("Ana", "Bonnet");
        p["contact"]["locale"] = "fr-ca".into();
        let out = r.render("abandoned_checkout_1", &p).unwrap();
        assert_eq!(
            out.subject,
            "Ana, vous avez oublié quelque chose dans votre panier"
        );
        assert!(out.text.contains("Se désinscrire"), "{}", out.text);
    }

    #[test]
    fn mjml_templates_compile_to_html_after_the_variables_are_filled_in() {
        let r = renderer();
        let p = serde_json::json!({
            "contact": {"first_name": "Ana <b>", "email": "a@example.com"},
            "order": {"line_items": [{"title": "Merino Beanie", "variant_title": null, "quantity": 1,
                                      "price": {"amount_minor": 2900, "currency": "EUR"}}],
                      "total": {"amount_minor": 2900, "currency": "EUR"}},
        });
        let out = r.render("order_thank_you", &p).unwrap();
        assert!(
            out.html.to_lowercase().starts_with("<!doctype html>"),
            "{}",
            &out.html[..200]
        );
        assert!(!out.html.contains("<mj-"), "compiled");
        assert!(out.html.contains("Merino Beanie") && out.html.contains("29.00 EUR"));
        assert!(
            out.html.contains("Ana &lt;b&gt;"),
            "escaped before compiling"
        );
    }

    #[test]
    fn a_missing_variable_names_the_file_and_line() {
        let r = renderer();
        let err = r
            .render(
                "abandoned_checkout_1",
                &serde_json::json!({"contact": {"first_name": "Ana"}}),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("template `abandoned_checkout_1` (templates/abandoned_checkout_1/"),
            "{err}"
        );
        assert!(err.contains(':') && err.contains("undefined"), "{err}");
    }

    proptest! {
        /// Hostile contact and product data: no panic, HTML escaped in the
        /// HTML part, and the subject stays one header line.
        #[test]
        fn hostile_data_is_escaped_and_never_panics(name in "\\PC{0,40}", title in "\\PC{0,40}") {
            let r = renderer();
            let hostile = format!("<script>alert(1)</script>{name}\r\nBcc: x@evil.example");
            let out = r.render("abandoned_checkout_1", &params(&hostile, &title)).unwrap();
            prop_assert!(!out.html.contains("<script>"));
            prop_assert!(out.html.contains("&lt;script&gt;"));
            prop_assert!(!out.subject.contains('\n') && !out.subject.contains('\r'));
            let message = OutboxMessage {
                id: "m".into(),
                shop: crate::ids::ShopDomain::parse("demo.myshopify.com").unwrap(),
                contact: crate::ids::ContactId::for_customer(1),
                journey: "j".into(),
                version: 1,
                run_key: "k".into(),
                step: "s".into(),
                queued_at: "2026-11-23T11:00:00Z".parse().unwrap(),
                params: serde_json::Value::Null,
                topic: None,
                not_before: None,
                replaces_unsent: false,
                channel: crate::outbox::Channel::Email {
                    to: crate::ids::EmailAddress::parse("a@example.com").unwrap(),
                    template: "abandoned_checkout_1".into(),
                    transactional: false,
                },
            };
            let sender = Sender { name: "Shop".into(), address: crate::ids::EmailAddress::parse("s@example.com").unwrap() };
            let raw = String::from_utf8_lossy(&mime(&sender, &message, message.to().unwrap(), &out, None)).into_owned();
            let headers = raw.split("\r\n\r\n").next().unwrap_or_default();
            prop_assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "no header injection: {}", headers);
        }
    }

    #[test]
    fn a_line_renders_strictly_on_one_line_and_bad_syntax_is_caught_before() {
        let r = renderer();
        let params = serde_json::json!({"contact": {"first_name": "Ana"}});
        assert_eq!(
            r.render_line("{{ contact.first_name }},\nnew in", &params)
                .unwrap(),
            "Ana, new in"
        );
        assert_eq!(
            r.render_line("{{ contact.nickname | default(\"Hello\") }}", &params)
                .unwrap(),
            "Hello"
        );
        let e = r
            .render_line("{{ contact.nickname }}", &params)
            .unwrap_err();
        assert!(e.contains("undefined"), "{e}");
        assert!(check_line("Black Friday: 30 % off").is_ok());
        assert!(check_line("{{ contact.first_name ").is_err());
    }
}
