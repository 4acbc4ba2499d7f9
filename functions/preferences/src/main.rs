use lambda_http::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    waymark_aws::config::init_tracing();
    let service = preferences_fn::init().await?;
    run(service_fn(|req| preferences_fn::handle(&service, req))).await
}
