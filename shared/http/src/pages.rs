//! The preferences function's pages, rendered from templates (`pages/`,
//! minijinja, HTML-escaped) for the typed outcomes the service returns.
//! Decides nothing: what a page says was decided by the service.

use minijinja::{Environment, context};
use std::sync::OnceLock;
use waymark_app::preferences::Outcome;

/// A rendered page: status and HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub status: u16,
    pub html: String,
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("layout.html", include_str!("pages/layout.html")),
            ("preferences.html", include_str!("pages/preferences.html")),
            ("unsubscribed.html", include_str!("pages/unsubscribed.html")),
            ("topics_left.html", include_str!("pages/topics_left.html")),
            ("confirm.html", include_str!("pages/confirm.html")),
            ("subscribed.html", include_str!("pages/subscribed.html")),
            ("try_again.html", include_str!("pages/try_again.html")),
        ] {
            env.add_template(name, text)
                .expect("the shipped page templates parse");
        }
        env
    })
}

/// The page for an outcome.
pub fn render(outcome: &Outcome) -> Page {
    let (status, name, ctx) = match outcome {
        Outcome::PreferencePage { token, topics } => (
            200,
            "preferences.html",
            context! { title => "Email preferences", token, topics },
        ),
        Outcome::Unsubscribed => (
            200,
            "unsubscribed.html",
            context! { title => "You are unsubscribed" },
        ),
        Outcome::TopicsLeft(labels) => (
            200,
            "topics_left.html",
            context! { title => "Your preferences are saved", labels },
        ),
        Outcome::ConfirmPage { token } => (
            200,
            "confirm.html",
            context! { title => "Confirm your subscription", token },
        ),
        Outcome::Subscribed => (
            200,
            "subscribed.html",
            context! { title => "You are subscribed" },
        ),
        Outcome::TryAgain => (
            503,
            "try_again.html",
            context! { title => "Please try again" },
        ),
    };
    let html = templates()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the shipped page templates render");
    Page { status, html }
}

#[cfg(test)]
mod tests {
    use super::*;
    use waymark_core::journey::EmailTopic;

    #[test]
    fn the_page_offers_each_topic_escaped_and_posts_back_the_token() {
        let page = render(&Outcome::PreferencePage {
            token: "abc.def".into(),
            topics: vec![EmailTopic {
                id: "offers".into(),
                label: "Offers & <coupons>".into(),
            }],
        });
        assert_eq!(page.status, 200);
        assert!(page.html.contains("value=\"offers\""), "{}", page.html);
        assert!(
            page.html.contains("Offers &amp; &lt;coupons&gt;"),
            "{}",
            page.html
        );
        assert!(page.html.contains("action=\"?t=abc.def\""), "{}", page.html);
        assert!(page.html.contains("Unsubscribe from all marketing emails"));
    }

    #[test]
    fn every_outcome_has_its_page() {
        for (outcome, status, words) in [
            (Outcome::Unsubscribed, 200, "You are unsubscribed"),
            (
                Outcome::TopicsLeft(vec!["News".into(), "Offers".into()]),
                200,
                "News, Offers",
            ),
            (
                Outcome::ConfirmPage { token: "t".into() },
                200,
                "Yes, subscribe me",
            ),
            (Outcome::Subscribed, 200, "your subscription is confirmed"),
            (Outcome::TryAgain, 503, "try again in a minute"),
        ] {
            let page = render(&outcome);
            assert_eq!(page.status, status, "{outcome:?}");
            assert!(page.html.contains(words), "{outcome:?}: {}", page.html);
        }
    }
}
