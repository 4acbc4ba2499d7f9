use lambda_runtime::{Error, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    waymark_aws::config::init_tracing();
    let service = export_fn::init().await?;
    run(service_fn(|event| export_fn::handle(&service, event))).await
}
