// The whole path a person takes to an app behind a front proxy and the outpost:
// open Prometheus, get sent to Gatehouse's sign-in page, type the username and
// password (and tick "stay signed in" when asked), and land on Prometheus's own UI
// at the URL first opened.
// Usage: node prometheus.mjs APP_URL USERNAME PASSWORD [HOST_RULES]
// (CHROMIUM names the browser; HOST_RULES maps the app's name, as Chromium's
// --host-resolver-rules, e.g. "MAP prom.test 127.0.0.1").
import puppeteer from "puppeteer-core";

const [appUrl, username, password, hostRules] = process.argv.slice(2);
const args = ["--no-sandbox", "--disable-dev-shm-usage"];
if (hostRules) args.push(`--host-resolver-rules=${hostRules}`);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args,
});
const app = new URL(appUrl);
try {
  const page = await browser.newPage();
  await page.goto(appUrl, { waitUntil: "load" });
  const signIn = new URL(page.url());
  if (signIn.host === app.host || !signIn.pathname.startsWith("/if/flow/")) {
    throw new Error(`expected Gatehouse's sign-in page, got ${page.url()}:\n${await page.content()}`);
  }
  await page.waitForSelector("#uid_field");
  await page.type("#uid_field", username);
  if (!(await page.$("#password"))) {
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  }
  await page.type("#password", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  if (new URL(page.url()).host !== app.host && (await page.content()).includes("Stay signed in")) {
    await page.click("input[name=remember_me]");
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  }
  if (page.url() !== appUrl) throw new Error(`expected to be back at ${appUrl}, got ${page.url()}`);
  const title = await page.title();
  if (!title.includes("Prometheus")) throw new Error(`not Prometheus's UI: ${title}`);
  // Prometheus's own script ran: its UI drew the expression input.
  await page.waitForSelector("textarea, input[name=expr], #expr0, .cm-editor", { timeout: 15000 });
  console.log(`OK ${page.url()} ${title}`);
} finally {
  await browser.close();
}
