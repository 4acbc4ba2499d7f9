//! What the CLI's test files share.

/// An emulator with the template's resources, the table named `table`.
pub async fn stack_with_table(table: &str) -> (waymark_local::moto::Moto, aws_config::SdkConfig) {
    let moto = waymark_local::moto::Moto::start().unwrap();
    let sdk = moto.sdk().await;
    let template =
        waymark_local::template::Template::load(&waymark_local::template::Template::default_path())
            .unwrap();
    let mut names = waymark_local::resources::Names::default();
    names.tables.insert("Table".into(), table.into());
    names
        .parameters
        .insert("SenderEmail".into(), "store@example.com".into());
    waymark_local::resources::create(&sdk, &template, &names)
        .await
        .unwrap();
    (moto, sdk)
}
