//! The answers `ingest` gives: each typed outcome of the webhook and `/track`
//! services as a status, headers and a small JSON body. The README's tables
//! of answers are this file's contract.

use serde_json::{Value, json};
use waymark_app::ingest::WebhookOutcome;
use waymark_app::track::{FormLimit, TrackAnswer, TrackOutcome};

/// An HTTP answer: status, extra headers, JSON body (none for a 204).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

fn json_answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: Some(body),
    }
}

/// A Shopify webhook's answer.
pub fn webhook(outcome: &WebhookOutcome) -> Answer {
    match outcome {
        WebhookOutcome::Unauthorized => json_answer(
            401,
            json!({"error": "invalid or missing X-Shopify-Hmac-Sha256"}),
        ),
        WebhookOutcome::Invalid(problem) => json_answer(400, json!({"error": problem})),
        WebhookOutcome::Ignored { topic } => {
            json_answer(200, json!({"status": "ignored", "topic": topic}))
        }
        WebhookOutcome::Accepted { event_id } => {
            json_answer(200, json!({"status": "accepted", "event_id": event_id}))
        }
        WebhookOutcome::Duplicate { event_id } => {
            json_answer(200, json!({"status": "duplicate", "event_id": event_id}))
        }
        WebhookOutcome::Unavailable => {
            json_answer(503, json!({"error": "temporarily unavailable"}))
        }
    }
}

/// A `/track` request's answer, with CORS permission only for an allowed
/// origin.
pub fn track(outcome: &TrackOutcome) -> Answer {
    let mut answer = match &outcome.answer {
        TrackAnswer::Preflight => Answer {
            status: 204,
            headers: Vec::new(),
            body: None,
        },
        TrackAnswer::PreflightRefused => json_answer(403, json!({})),
        TrackAnswer::MethodNotAllowed => json_answer(405, json!({"error": "use POST"})),
        TrackAnswer::TooLarge(what) => json_answer(413, json!({"error": what})),
        TrackAnswer::MissingKey => json_answer(
            401,
            json!({"error": "missing write key (X-Waymark-Key header or `key` in the body)"}),
        ),
        TrackAnswer::UnknownKey => json_answer(401, json!({"error": "unknown write key"})),
        TrackAnswer::OriginNotAllowed => json_answer(
            403,
            json!({"error": "this key does not accept requests from this Origin"}),
        ),
        TrackAnswer::Refused { too_many, problems } => json_answer(
            if *too_many { 413 } else { 400 },
            json!({"error": "batch refused; nothing was stored", "problems": problems}),
        ),
        TrackAnswer::RateLimited { retry_after } => {
            let mut a = json_answer(
                429,
                json!({"error": "rate limit for this key reached; retry later", "retry_after_seconds": retry_after}),
            );
            a.headers.push(("retry-after", retry_after.to_string()));
            a
        }
        TrackAnswer::FormsLimited { per, retry_after } => {
            let whose = match per {
                FormLimit::Key => "this key",
                FormLimit::Address => "this address",
            };
            let mut a = json_answer(
                429,
                json!({"error": format!("form submissions for {whose} are over their allowance; nothing was stored"), "retry_after_seconds": retry_after}),
            );
            a.headers.push(("retry-after", retry_after.to_string()));
            a
        }
        TrackAnswer::Unavailable => json_answer(503, json!({"error": "temporarily unavailable"})),
        TrackAnswer::Accepted {
            accepted,
            duplicates,
        } => json_answer(
            200,
            json!({"status": "accepted", "accepted": accepted, "duplicates": duplicates}),
        ),
    };
    answer.headers.push(("vary", "Origin".into()));
    if let Some(origin) = &outcome.allowed_origin {
        answer.headers.extend([
            ("access-control-allow-origin", origin.clone()),
            ("access-control-allow-methods", "POST, OPTIONS".into()),
            (
                "access-control-allow-headers",
                "content-type, x-waymark-key".into(),
            ),
            ("access-control-max-age", "86400".into()),
        ]);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
        a.headers
            .iter()
            .find(|(h, _)| *h == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn cors_permission_goes_only_to_an_allowed_origin() {
        let allowed = track(&TrackOutcome {
            answer: TrackAnswer::Preflight,
            allowed_origin: Some("https://demo.example".into()),
        });
        assert_eq!((allowed.status, allowed.body.clone()), (204, None));
        assert_eq!(
            header(&allowed, "access-control-allow-origin"),
            Some("https://demo.example")
        );
        let refused = track(&TrackOutcome {
            answer: TrackAnswer::OriginNotAllowed,
            allowed_origin: None,
        });
        assert_eq!(refused.status, 403);
        assert_eq!(header(&refused, "access-control-allow-origin"), None);
        assert_eq!(header(&refused, "vary"), Some("Origin"));
    }

    #[test]
    fn refusals_limits_and_acceptance_keep_their_documented_shape() {
        let limited = track(&TrackOutcome {
            answer: TrackAnswer::RateLimited { retry_after: 10 },
            allowed_origin: Some("https://demo.example".into()),
        });
        assert_eq!(limited.status, 429);
        assert_eq!(header(&limited, "retry-after"), Some("10"));
        let forms = track(&TrackOutcome {
            answer: TrackAnswer::FormsLimited {
                per: FormLimit::Address,
                retry_after: 3600,
            },
            allowed_origin: Some("https://demo.example".into()),
        });
        assert_eq!(forms.status, 429);
        assert_eq!(header(&forms, "retry-after"), Some("3600"));
        let body = forms.body.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("this address"),
            "{body}"
        );
        let refused = track(&TrackOutcome {
            answer: TrackAnswer::Refused {
                too_many: false,
                problems: vec!["batch[1].id: …".into()],
            },
            allowed_origin: None,
        });
        assert_eq!(refused.status, 400);
        assert_eq!(refused.body.unwrap()["problems"][0], "batch[1].id: …");
        let many = track(&TrackOutcome {
            answer: TrackAnswer::Refused {
                too_many: true,
                problems: vec![],
            },
            allowed_origin: None,
        });
        assert_eq!(many.status, 413);
        let ok = track(&TrackOutcome {
            answer: TrackAnswer::Accepted {
                accepted: 2,
                duplicates: 1,
            },
            allowed_origin: None,
        });
        assert_eq!(
            ok.body.unwrap(),
            json!({"status": "accepted", "accepted": 2, "duplicates": 1})
        );
    }

    #[test]
    fn webhook_answers() {
        for (outcome, status) in [
            (WebhookOutcome::Unauthorized, 401),
            (WebhookOutcome::Invalid("x".into()), 400),
            (WebhookOutcome::Ignored { topic: "t".into() }, 200),
            (
                WebhookOutcome::Accepted {
                    event_id: "e".into(),
                },
                200,
            ),
            (
                WebhookOutcome::Duplicate {
                    event_id: "e".into(),
                },
                200,
            ),
            (WebhookOutcome::Unavailable, 503),
        ] {
            assert_eq!(webhook(&outcome).status, status, "{outcome:?}");
        }
        assert_eq!(
            webhook(&WebhookOutcome::Duplicate {
                event_id: "e".into()
            })
            .body
            .unwrap()["status"],
            "duplicate"
        );
    }
}
