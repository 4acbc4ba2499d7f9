//! The content a store edits (journeys, templates), as compiled into this
//! build. Must never read the file system at run time.

use waymark_core::journey::{Catalog, ContentError, ContentFile};

include!(concat!(env!("OUT_DIR"), "/content.rs"));

/// The bundled files, as the validator and the catalog take them.
pub fn files() -> Vec<ContentFile> {
    FILES
        .iter()
        .map(|(path, text)| ContentFile {
            path: (*path).to_string(),
            text: (*text).to_string(),
        })
        .collect()
}

/// The bundled catalog. Content is validated in CI, so a failure here means
/// a build that skipped validation: the function refuses to start.
pub fn catalog() -> Result<Catalog, Vec<ContentError>> {
    Catalog::from_files(&files())
}

/// The bundled catalog, or one error listing every problem, for a
/// function's cold start.
pub fn checked_catalog() -> Result<Catalog, String> {
    catalog().map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("bundled content is invalid:\n{}", text.join("\n"))
    })
}

/// The catalog a journey-running function (process, timer, sweep) starts
/// with: the bundled content and the deployment's coupon secret
/// (`COUPON_SECRET`), which is required once a journey gives coupons.
pub fn runtime_catalog(coupon_secret: Option<&str>) -> Result<Catalog, String> {
    let catalog = checked_catalog()?;
    match coupon_secret.filter(|s| !s.trim().is_empty()) {
        Some(secret) => Ok(catalog.with_coupon_secret(secret.as_bytes())),
        None if catalog.gives_coupons() => Err(
            "environment variable COUPON_SECRET is not set, and journeys give coupon codes (they are derived from it)".into(),
        ),
        None => Ok(catalog),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundled_content_is_valid() {
        let catalog = super::catalog().unwrap_or_else(|errors| {
            panic!(
                "{}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(catalog.version("abandoned_checkout", 1).is_some());
        assert!(catalog.template("abandoned_checkout_1").is_some());
    }

    #[test]
    fn journeys_that_give_coupons_need_the_secret() {
        let err = super::runtime_catalog(None).unwrap_err();
        assert!(err.contains("COUPON_SECRET"), "{err}");
        assert!(
            super::runtime_catalog(Some("  ")).is_err(),
            "blank is unset"
        );
        assert!(super::runtime_catalog(Some("a-deployment-secret")).is_ok());
    }
}
