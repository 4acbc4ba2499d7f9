//! The edge of the HTTP functions (`ingest`, `preferences`): facts a Function
//! URL request carries about itself, read once so no service reads them
//! twice, and the answers and pages services' outcomes become (`answers`,
//! `pages`). Never decides
//! anything and never touches a store.

pub mod answers;
pub mod pages;

use jiff::Timestamp;
use lambda_http::Request;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

/// When the platform received the request (the Function URL request
/// context's `timeEpoch`, in milliseconds). Token expiry, clock skew and
/// rate limits are judged against it, so a replayed request keeps its own
/// time. The wall clock only when the platform gave none (a request built
/// by hand, or a runtime that leaves the field empty).
pub fn request_time(req: &Request) -> Timestamp {
    let epoch_ms = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => c.time_epoch,
        _ => 0,
    };
    given_time(epoch_ms).unwrap_or_else(Timestamp::now)
}

/// A `timeEpoch` the platform actually set (0 means "not given").
fn given_time(epoch_ms: i64) -> Option<Timestamp> {
    (epoch_ms > 0)
        .then(|| Timestamp::from_millisecond(epoch_ms).ok())
        .flatten()
}

/// Gives `req` the request context a Function URL would, received at `at`:
/// what a test harness or a local replay uses to say when a request
/// happened.
pub fn received_at(req: Request, at: Timestamp) -> Request {
    let mut context =
        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.time_epoch = at.as_millisecond();
    context.http.method = req.method().clone();
    context.http.path = Some(req.uri().path().to_string());
    req.with_request_context(RequestContext::ApiGatewayV2(context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;

    fn request() -> Request {
        lambda_http::http::Request::builder()
            .method("POST")
            .uri("/unsubscribe")
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn the_platforms_time_is_the_requests_time() {
        let at: Timestamp = "2031-05-04T03:02:01.500Z".parse().unwrap();
        assert_eq!(request_time(&received_at(request(), at)), at);
    }

    #[test]
    fn no_time_given_is_not_the_epoch() {
        assert_eq!(given_time(0), None);
        assert_eq!(given_time(-5), None);
        assert_eq!(
            given_time(1_000),
            Some(Timestamp::from_millisecond(1_000).unwrap())
        );
    }
}
