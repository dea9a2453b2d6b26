//! A small load generator for the token endpoint, where wrk cannot go: every code
//! and every refresh token works once, so each worker keeps its own chain.
//!
//! Usage: `oauth2-load BASE_URL MODE [SECONDS] [WORKERS]` with MODE one of
//! * `token`: sign in, get one access token, print it (for wrk on introspection and
//!   userinfo);
//! * `code`: each worker loops authorize → token exchange; reports the exchange;
//! * `refresh`: each worker gets a grant, then loops refresh → refresh.
//!
//! Environment: `USERNAME`, `PASSWORD`, `CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URI`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

struct Setup {
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    http: reqwest::Client,
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

/// Cookies a response sets, as `name=value` pairs.
fn cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| !pair.ends_with('='))
        .map(str::to_owned)
        .collect()
}

fn csrf_of(html: &str) -> Result<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).context("no CSRF token on the page")? + marker.len();
    Ok(html
        .get(start..)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned())
}

/// Signs in over the default flow's forms and returns the session cookie.
async fn sign_in(setup: &Setup) -> Result<String> {
    let url = format!("{}/if/flow/default-authentication-flow/", setup.base);
    let page = setup.http.get(&url).send().await?;
    let mut jar = cookies(&page);
    let mut html = page.text().await?;
    let mut form = vec![
        ("uid_field".to_owned(), env("USERNAME")?),
        ("password".to_owned(), env("PASSWORD")?),
    ];
    for _ in 0..4 {
        form.push(("csrf_token".to_owned(), csrf_of(&html)?));
        let answer = setup
            .http
            .post(&url)
            .header(COOKIE, jar.join("; "))
            .form(&form)
            .send()
            .await?;
        jar.extend(cookies(&answer));
        if let Some(session) = jar.iter().find(|c| c.starts_with("gatehouse_session=")) {
            return Ok(session.clone());
        }
        html = answer.text().await?;
        form.clear();
    }
    bail!("no session after the sign-in forms:\n{html}")
}

/// One authorization code for the signed-in `session`.
async fn code(setup: &Setup, session: &str, scope: &str) -> Result<String> {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/application/o/authorize/", setup.base),
        [
            ("client_id", setup.client_id.as_str()),
            ("redirect_uri", setup.redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", scope),
        ],
    )?;
    let response = setup.http.get(url).header(COOKIE, session).send().await?;
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("authorize did not redirect")?;
    reqwest::Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no code in {location}"))
}

async fn token_request(setup: &Setup, form: &[(&str, &str)]) -> Result<serde_json::Value> {
    let response = setup
        .http
        .post(format!("{}/application/o/token/", setup.base))
        .basic_auth(&setup.client_id, Some(&setup.client_secret))
        .form(form)
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    if !status.is_success() {
        bail!("token endpoint answered {status}: {body}");
    }
    Ok(body)
}

async fn exchange(setup: &Setup, code: &str) -> Result<serde_json::Value> {
    token_request(
        setup,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &setup.redirect_uri),
        ],
    )
    .await
}

fn text(value: &serde_json::Value, key: &str) -> Result<String> {
    value
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {key} in {value}"))
}

/// Runs `workers` loops for `seconds`; each returns the latencies it measured.
async fn run(setup: &'static Setup, mode: &str, seconds: u64, workers: usize) -> Result<()> {
    let session = sign_in(setup).await?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let session = session.clone();
        let mode = mode.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refresh = if mode == "refresh" {
                let code = code(setup, &session, "openid offline_access").await?;
                Some(text(&exchange(setup, &code).await?, "refresh_token")?)
            } else {
                None
            };
            while Instant::now() < deadline {
                match &mut refresh {
                    Some(current) => {
                        let started = Instant::now();
                        let answer = token_request(
                            setup,
                            &[("grant_type", "refresh_token"), ("refresh_token", current)],
                        )
                        .await?;
                        latencies.push(started.elapsed());
                        *current = text(&answer, "refresh_token")?;
                    }
                    None => {
                        let code = code(setup, &session, "openid email profile").await?;
                        let started = Instant::now();
                        exchange(setup, &code).await?;
                        latencies.push(started.elapsed());
                    }
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let at = |q: f64| {
        let index = ((all.len() as f64 - 1.0) * q).round() as usize;
        all.get(index).copied().unwrap_or_default()
    };
    println!(
        "{mode}: {} requests in {elapsed:.1} s ({:.0}/s of this request alone), p50 {:?}, p99 {:?}",
        all.len(),
        all.len() as f64 / elapsed,
        at(0.5),
        at(0.99)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, mode, rest @ ..] = args.as_slice() else {
        bail!("usage: oauth2-load BASE_URL token|code|refresh [SECONDS] [WORKERS]");
    };
    let seconds = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let workers = rest.get(1).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let setup: &'static Setup = Box::leak(Box::new(Setup {
        base: base.trim_end_matches('/').to_owned(),
        client_id: env("CLIENT_ID")?,
        client_secret: env("CLIENT_SECRET")?,
        redirect_uri: env("REDIRECT_URI")?,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(workers)
            .build()?,
    }));
    if mode == "token" {
        let session = sign_in(setup).await?;
        let code = code(setup, &session, "openid email profile offline_access").await?;
        println!("{}", text(&exchange(setup, &code).await?, "access_token")?);
        return Ok(());
    }
    run(setup, mode, seconds, workers).await
}
