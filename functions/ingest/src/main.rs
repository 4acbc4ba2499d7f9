use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    waymark_aws::config::init_tracing();
    let service = ingest_fn::init().await?;
    run(service_fn(|req| ingest_fn::handle(&service, req))).await
}
