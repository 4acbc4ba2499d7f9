//! Starts moto (the AWS API emulator, from the project's virtualenv) on a free
//! loopback port for a test, and stops it when dropped.

use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
}

fn binary() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server")
        })
}

impl Moto {
    /// Uses `WAYMARK_TEST_ENDPOINT` if set, otherwise starts a private moto.
    pub fn start() -> Result<Self> {
        if let Ok(endpoint) = std::env::var("WAYMARK_TEST_ENDPOINT") {
            return Ok(Self {
                child: None,
                endpoint,
            });
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let bin = binary();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} (run `make venv` first)", bin.display()))?;
        let moto = Self {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(anyhow!("moto did not listen on port {port} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    /// SDK configuration pointing at this emulator, with dummy credentials.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.sdk_via(&self.endpoint).await
    }

    /// The same configuration, reaching the emulator through `endpoint`
    /// (a recording proxy in front of it, say).
    pub async fn sdk_via(&self, endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "moto",
            ))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
