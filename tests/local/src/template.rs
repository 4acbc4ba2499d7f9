//! Reads `infra/template.yaml`: the tables, email identities and functions
//! with their event sources. Intrinsics are written in long form
//! (`Ref`, `Fn::GetAtt`) so the file is plain YAML.

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Template {
    pub root: Value,
}

/// A function and the events that invoke it.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// The cargo binary that implements it (what `cargo lambda watch` serves).
    pub binary: String,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone)]
pub enum Source {
    /// A DynamoDB stream of `table` (logical id), with filter patterns.
    Stream {
        table: String,
        patterns: Vec<Value>,
        batch_size: usize,
        /// A tumbling window (`TumblingWindowInSeconds`): each batch then
        /// names its shard, and the answer must carry `state`.
        windowed: bool,
    },
    /// An SQS queue (logical id), delivered `batch_size` messages at a time.
    Queue { queue: String, batch_size: usize },
    Schedule {
        expression: String,
        /// What EventBridge Scheduler sends (its `Input`, with context
        /// attributes such as `<aws.scheduler.scheduled-time>` still in it);
        /// none: an EventBridge rule's Scheduled Event.
        input: Option<String>,
    },
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let root: Value =
            serde_norway::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        Ok(Self { root })
    }

    /// `infra/template.yaml` of this repository.
    pub fn default_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml")
    }

    pub fn resources(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.root["Resources"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
    }

    pub fn of_type<'a>(
        &'a self,
        ty: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"] == ty)
    }

    pub fn functions(&self) -> Result<Vec<Function>> {
        let mut out = Vec::new();
        for (id, r) in self.of_type("AWS::Serverless::Function") {
            let binary = r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .ok_or_else(|| anyhow!("{id}: Metadata.BuildProperties.Binary is missing"))?
                .to_string();
            let mut sources = Vec::new();
            for (_, ev) in r["Properties"]["Events"].as_object().into_iter().flatten() {
                let p = &ev["Properties"];
                match ev["Type"].as_str() {
                    Some("DynamoDB") => {
                        let table = p["Stream"]["Fn::GetAtt"][0]
                            .as_str()
                            .ok_or_else(|| {
                                anyhow!("{id}: stream source must be Fn::GetAtt [Table, StreamArn]")
                            })?
                            .to_string();
                        let mut patterns = Vec::new();
                        for f in p["FilterCriteria"]["Filters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                        {
                            let raw = f["Pattern"]
                                .as_str()
                                .ok_or_else(|| anyhow!("{id}: filter without Pattern"))?;
                            patterns.push(
                                serde_json::from_str(raw)
                                    .with_context(|| format!("{id}: filter pattern"))?,
                            );
                        }
                        let batch_size = p["BatchSize"].as_u64().unwrap_or(100) as usize;
                        let windowed = p["TumblingWindowInSeconds"].as_u64().unwrap_or(0) > 0;
                        sources.push(Source::Stream {
                            table,
                            patterns,
                            batch_size,
                            windowed,
                        });
                    }
                    Some("SQS") => {
                        let queue = p["Queue"]["Fn::GetAtt"][0]
                            .as_str()
                            .ok_or_else(|| {
                                anyhow!("{id}: SQS source must be Fn::GetAtt [Queue, Arn]")
                            })?
                            .to_string();
                        let batch_size = p["BatchSize"].as_u64().unwrap_or(10) as usize;
                        sources.push(Source::Queue { queue, batch_size });
                    }
                    Some("Schedule") => sources.push(Source::Schedule {
                        expression: p["Schedule"].as_str().unwrap_or_default().to_string(),
                        input: None,
                    }),
                    Some("ScheduleV2") => sources.push(Source::Schedule {
                        expression: p["ScheduleExpression"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        input: p["Input"].as_str().map(str::to_string),
                    }),
                    _ => {}
                }
            }
            out.push(Function {
                logical_id: id.clone(),
                binary,
                sources,
            });
        }
        Ok(out)
    }
}
