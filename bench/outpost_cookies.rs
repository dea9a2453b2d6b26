//! Prints `N` outpost session cookies (`name=value`, one per line) for the provider
//! named `PROVIDER` in an outpost's state file, sealed with `COOKIE_SECRET`: distinct
//! sessions of members of `ops`, valid for a day. The forward-auth load script feeds
//! them to wrk to fill the outpost's session cache.
//!
//! Usage: COOKIE_SECRET=… outpost-cookies STATE_FILE PROVIDER N

use std::io::Write;

use anyhow::{Context, Result};
use gatehouse_outpost::session::{OutpostSession, cookie_name, key_of, seal};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: outpost-cookies STATE_FILE PROVIDER N";
    let state = args.next().context(usage)?;
    let wanted = args.next().context(usage)?;
    let count: usize = args.next().context(usage)?.parse()?;
    let secret = std::env::var("COOKIE_SECRET").context("COOKIE_SECRET")?;
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state)?)?;
    let provider: uuid::Uuid = state
        .pointer("/snapshot/providers")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(serde_json::Value::as_str) == Some(wanted.as_str()))
        .and_then(|p| p.get("id")?.as_str())
        .with_context(|| format!("no provider {wanted} in the state file"))?
        .parse()?;
    let name = cookie_name(provider);
    let key = key_of(&secret);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..count {
        let session = OutpostSession {
            sid: uuid::Uuid::new_v4(),
            uid: uuid::Uuid::new_v4(),
            username: format!("user{i}"),
            email: format!("user{i}@example.org"),
            name: format!("User {i}"),
            groups: vec!["ops".into()],
            attributes: serde_json::json!({}),
            issued_at: now,
            expires_at: now + 86_400,
        };
        writeln!(out, "{name}={}", seal(&key, &name, &session))?;
    }
    Ok(())
}
