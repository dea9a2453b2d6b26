//! Time from a logout on the core to the first refusal of that session at an
//! outpost, over many runs: each run signs in (JSON executor), seals the outpost
//! cookie for the new core session, checks the outpost lets it in, signs out through
//! the invalidation flow and asks the outpost in a tight loop until it refuses.
//!
//! Usage: revocation-latency CORE_URL OUTPOST_URL STATE_FILE RUNS
//! (env: USERNAME, PASSWORD, COOKIE_SECRET, HOST — the provider's external host).
//! Prints the median and p99 from sending the logout and from its answer.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gatehouse_outpost::session::{OutpostSession, cookie_name, key_of, seal};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

#[derive(Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

struct Bench {
    http: reqwest::Client,
    core: String,
    outpost: String,
    host: String,
    username: String,
    password: String,
    key: cookie::Key,
    cookie_name: String,
}

impl Bench {
    /// Signs in; returns the browser's cookies and the outpost cookie of its session.
    async fn sign_in(&self) -> Result<(Jar, String)> {
        let url = format!("{}/api/v1/flows/executor/sign-in/", self.core);
        let mut jar = Jar::default();
        let first = self.http.get(&url).send().await?;
        jar.take(&first);
        let done = self
            .http
            .post(&url)
            .header(COOKIE, jar.header())
            .json(&json!({"uid_field": self.username, "password": self.password}))
            .send()
            .await?;
        jar.take(&done);
        let listed: Value = self
            .http
            .get(format!("{}/api/v1/core/authenticated_sessions/", self.core))
            .header(COOKIE, jar.header())
            .send()
            .await?
            .json()
            .await?;
        let sid = listed
            .pointer("/results")
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|s| s.pointer("/current") == Some(&Value::Bool(true)))
            })
            .and_then(|s| s.pointer("/uuid"))
            .and_then(Value::as_str)
            .context("no current session after sign-in")?
            .parse()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let session = OutpostSession {
            sid,
            uid: uuid::Uuid::new_v4(),
            username: self.username.clone(),
            email: String::new(),
            name: String::new(),
            groups: vec!["ops".into()],
            attributes: json!({}),
            issued_at: now,
            expires_at: now + 3600,
        };
        let sealed = seal(&self.key, &self.cookie_name, &session);
        Ok((jar, format!("{}={sealed}", self.cookie_name)))
    }

    async fn outpost_says(&self, cookie: &str) -> Result<u16> {
        Ok(self
            .http
            .get(format!("{}/outpost.gatehouse/auth/nginx", self.outpost))
            .header("x-original-url", format!("http://{}/", self.host))
            .header(COOKIE, cookie)
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// One run: (from sending the logout, from its answer) to the first refusal.
    async fn run(&self) -> Result<(Duration, Duration)> {
        let (jar, cookie) = self.sign_in().await?;
        let before = self.outpost_says(&cookie).await?;
        if before != 200 {
            bail!("the outpost answered {before} before the logout");
        }
        let sent = Instant::now();
        let out = self
            .http
            .get(format!("{}/if/flow/default-invalidation-flow/", self.core))
            .header(COOKIE, jar.header())
            .send()
            .await?;
        let answered = Instant::now();
        if out.status() != 303 {
            bail!("logout answered {}", out.status());
        }
        let deadline = sent + Duration::from_secs(30);
        loop {
            if self.outpost_says(&cookie).await? == 401 {
                let refused = Instant::now();
                return Ok((refused - sent, refused - answered));
            }
            if Instant::now() > deadline {
                bail!("the outpost still let the session in 30 s after the logout");
            }
        }
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let last = sorted.len().saturating_sub(1);
    let index = ((last as f64) * q).round() as usize;
    sorted.get(index.min(last)).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, core, outpost, state, runs] = args.as_slice() else {
        bail!("usage: revocation-latency CORE_URL OUTPOST_URL STATE_FILE RUNS");
    };
    let runs: usize = runs.parse()?;
    let state: Value = serde_json::from_str(&std::fs::read_to_string(state)?)?;
    let provider = state
        .pointer("/snapshot/providers/0/id")
        .and_then(Value::as_str)
        .context("the outpost has no provider yet")?
        .parse()?;
    let env = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let bench = Bench {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        core: core.clone(),
        outpost: outpost.clone(),
        host: env("HOST")?,
        username: env("USERNAME")?,
        password: env("PASSWORD")?,
        key: key_of(&env("COOKIE_SECRET")?),
        cookie_name: cookie_name(provider),
    };
    let mut from_sent = Vec::with_capacity(runs);
    let mut from_answer = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (a, b) = bench.run().await?;
        from_sent.push(a);
        from_answer.push(b);
    }
    from_sent.sort();
    from_answer.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "logout to refusal over {runs} runs: from sending the logout median {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         from its answer median {:.2} ms, p99 {:.2} ms",
        ms(quantile(&from_sent, 0.5)),
        ms(quantile(&from_sent, 0.99)),
        ms(quantile(&from_sent, 1.0)),
        ms(quantile(&from_answer, 0.5)),
        ms(quantile(&from_answer, 0.99)),
    );
    Ok(())
}
