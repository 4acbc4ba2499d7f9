//! CloudWatch metrics in Embedded Metric Format: one JSON log line per
//! invocation, which CloudWatch turns into metrics (namespace
//! `METRICS_NAMESPACE`, dimension `Function`) without an API call.
//! Written only inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set; `cargo
//! lambda watch` sets it too), where CloudWatch reads the log; elsewhere
//! (tests calling the handlers) there is no log to read. Counts only: no
//! personal data.

use std::collections::BTreeMap;

/// What one invocation counted.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: BTreeMap<&'static str, f64>,
}

impl Metrics {
    pub fn add(&mut self, name: &'static str, n: f64) {
        *self.counts.entry(name).or_default() += n;
    }

    /// The EMF document, at `at_ms` (epoch milliseconds).
    pub fn document(&self, function: &str, namespace: &str, at_ms: i64) -> serde_json::Value {
        let names: Vec<serde_json::Value> = self
            .counts
            .keys()
            .map(|n| serde_json::json!({"Name": n, "Unit": "Count"}))
            .collect();
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": at_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": names,
                }]
            },
            "Function": function,
        });
        for (name, value) in &self.counts {
            doc[*name] = serde_json::json!(value);
        }
        doc
    }

    /// Writes the line, inside Lambda.
    pub fn emit(&self, function: &str) {
        if self.counts.is_empty() || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none() {
            return;
        }
        let namespace =
            crate::config::optional("METRICS_NAMESPACE").unwrap_or_else(|| "Waymark".into());
        let at = jiff::Timestamp::now().as_millisecond();
        println!("{}", self.document(function, &namespace, at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_emf() {
        let mut m = Metrics::default();
        m.add("EmailsSent", 2.0);
        m.add("EmailsSent", 1.0);
        m.add("Parked", 1.0);
        let d = m.document("dispatch", "Waymark/test", 1_764_000_000_000);
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Waymark/test"
        );
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Function"
        );
        assert_eq!(
            d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "EmailsSent"
        );
        assert_eq!(d["EmailsSent"], 3.0);
        assert_eq!(d["Parked"], 1.0);
        assert_eq!(d["Function"], "dispatch");
    }
}
