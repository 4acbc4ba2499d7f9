//! The sample payloads in `events/` (for `cargo lambda invoke --data-file`)
//! stay valid: each one, invoked on a local stack, does what it says.

use lambda_runtime::{Context, LambdaEvent};
use waymark_scenarios::Stack;

fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_sample_invokes_cleanly() {
    let mut stack = Stack::start().await.unwrap();

    // ingest: a Function URL event carrying a webhook signed with the local secret.
    let ingest = ingest_fn::build(
        &stack.sdk,
        &stack.table,
        "waymark-local-secret",
        ingest_fn::track_config(
            Some("wk_local_demo:demo.myshopify.com:http://127.0.0.1:8080"),
            None,
            Some("off"),
        )
        .unwrap(),
    );
    let url_event: lambda_http::request::LambdaRequest =
        serde_json::from_value(sample("ingest-shopify-checkout.json")).unwrap();
    let resp = ingest_fn::handle(&ingest, lambda_http::Request::from(url_event))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    assert_eq!(stack.items_of("event").await.unwrap(), 1);

    // process: a stream batch with one canonical checkout event.
    let process = process_fn::build(
        &stack.sdk,
        &stack.table,
        Some(waymark_scenarios::COUPON_SECRET),
    )
    .unwrap();
    let batch = serde_json::from_value(sample("process-stream.json")).unwrap();
    let out = process_fn::handle(&process, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(stack.items_of("run").await.unwrap(), 1);

    // timer: the scheduled event at 11:01 fires the hour's wait.
    let timer = timer_fn::build(
        &stack.sdk,
        &stack.table,
        &stack.queue_url("CampaignPages").await.unwrap(),
        Some(waymark_scenarios::COUPON_SECRET),
        1,
    )
    .unwrap();
    // EventBridge Scheduler invokes it once per due shard, the minute's
    // instant in each input; the wait is in exactly one of them.
    let mut queued = Vec::new();
    for shard in 0..waymark_app::ports::DUE_SHARDS {
        let mut tick = sample("timer-scheduler.json");
        tick["shard"] = shard.into();
        let tick = serde_json::from_value(tick).unwrap();
        let report = timer_fn::handle(&timer, LambdaEvent::new(tick, Context::default()))
            .await
            .unwrap();
        queued.push(report.emails_queued);
    }
    assert_eq!(queued.iter().sum::<usize>(), 1, "{queued:?}");
    // An EventBridge rule's Scheduled Event (what the template sent before
    // the Scheduler) still works: it fires every shard (nothing is left).
    let rule = serde_json::from_value(sample("timer-schedule.json")).unwrap();
    let report = timer_fn::handle(&timer, LambdaEvent::new(rule, Context::default()))
        .await
        .unwrap();
    assert_eq!((report.contacts, report.emails_queued), (0, 0));
    let beyond =
        serde_json::from_value(serde_json::json!({"time": "2026-11-23T11:01:00Z", "shard": 8}));
    let refused = timer_fn::handle(
        &timer,
        LambdaEvent::new(beyond.unwrap(), Context::default()),
    )
    .await;
    assert!(refused.is_err(), "a shard past the last is refused");

    // dispatch: the sample is the record of the very message the timer just
    // queued (same shop, contact, run and step, so the same id): it is sent.
    let dispatch = &stack.runner.invoker_mut().dispatch;
    let batch = serde_json::from_value(sample("dispatch-stream.json")).unwrap();
    let out = dispatch_fn::handle(dispatch, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(stack.sent().await.unwrap().len(), 1);
    // The stream then delivers the same message again: it is not sent twice.
    stack.runner.drain().await.unwrap();
    assert_eq!(stack.sent().await.unwrap().len(), 1);

    // ingest /track: the storefront snippet's batch, from the allowed origin.
    let url_event: lambda_http::request::LambdaRequest =
        serde_json::from_value(sample("ingest-track.json")).unwrap();
    let resp = ingest_fn::handle(&ingest, lambda_http::Request::from(url_event))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8080"
    );
    assert_eq!(stack.items_of("event").await.unwrap(), 3);
}
