//! Starts moto (the AWS API emulator, from the project's virtualenv) on a free
//! loopback port for a test, and stops it when dropped.

use anyhow::{Context, Result, anyhow};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
}

/// The command that starts moto: `MOTO_SERVER` if set, else the project's
/// launcher (`tests/stack/moto_server.py`: moto_server, remembering only
/// SES's objects for the mailbox) in the project's virtualenv.
fn command() -> (PathBuf, Vec<PathBuf>) {
    if let Some(bin) = std::env::var_os("MOTO_SERVER") {
        return (PathBuf::from(bin), Vec::new());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    (
        root.join(".venv/bin/python3"),
        vec![root.join("tests/stack/moto_server.py")],
    )
}

impl Moto {
    /// Uses `WAYMARK_TEST_ENDPOINT` if set, otherwise starts a private moto
    /// on a port the kernel picks for it (read back from moto's banner):
    /// a port chosen here and handed over could be taken in between by a
    /// parallel test's listener, and two tests would share one emulator.
    pub fn start() -> Result<Self> {
        if let Ok(endpoint) = std::env::var("WAYMARK_TEST_ENDPOINT") {
            return Ok(Self {
                child: None,
                endpoint,
            });
        }
        let (bin, launcher) = command();
        let mut child = Command::new(&bin)
            // The emulator stands for AWS, whose clock is not ours to shift:
            // the shifted-clock run (make test-shifted) checks our code, and
            // moto under libfaketime runs at half speed. It keeps the real one.
            .env_remove("LD_PRELOAD")
            .env_remove("FAKETIME")
            .args(launcher)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} (run `make venv` first)", bin.display()))?;
        let stderr = child.stderr.take().context("moto's stderr")?;
        let (found, listening) = std::sync::mpsc::channel();
        // Reads the banner, then keeps draining (moto logs every request
        // to stderr; a full pipe would stall it).
        std::thread::spawn(move || {
            let mut early = Vec::new();
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(tx) = &found {
                    if let Some(port) = banner_port(&line) {
                        let _ = tx.send(Ok(port));
                        found = None;
                    } else if early.len() < 20 {
                        early.push(line);
                    }
                }
            }
            if let Some(tx) = found {
                let _ = tx.send(Err(early.join("\n")));
            }
        });
        let mut moto = Self {
            child: Some(child),
            endpoint: String::new(),
        };
        let port = match listening.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(port)) => port,
            Ok(Err(output)) => return Err(anyhow!("moto exited before listening:\n{output}")),
            Err(_) => return Err(anyhow!("moto did not listen within 30 s")),
        };
        moto.endpoint = format!("http://127.0.0.1:{port}");
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

/// The port in moto's " * Running on http://127.0.0.1:PORT" line.
fn banner_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("Running on http://127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::banner_port;

    #[test]
    fn the_port_is_read_from_the_banner_and_nothing_else() {
        assert_eq!(
            banner_port(" * Running on http://127.0.0.1:38913"),
            Some(38913)
        );
        assert_eq!(banner_port("Press CTRL+C to quit"), None);
        assert_eq!(banner_port(" * Running on http://127.0.0.1:"), None);
    }
}
