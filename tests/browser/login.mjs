// Signs in through Gatehouse's HTML pages in headless Chromium, as a person would:
// open the site, get sent to the sign-in flow, type the username and password,
// submit, tick "stay signed in", and land on the home page.
// Usage: node login.mjs BASE_URL USERNAME PASSWORD  (CHROMIUM names the browser)
import puppeteer from "puppeteer-core";

const [base, username, password] = process.argv.slice(2);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // Root in CI containers cannot use Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}/`, { waitUntil: "load" });
  const loginUrl = new URL(page.url());
  if (!loginUrl.pathname.startsWith("/if/flow/")) {
    throw new Error(`expected the sign-in flow, got ${page.url()}`);
  }
  // The first field has focus: typing goes straight into it. (autofocus may land a
  // moment after "load" on a busy machine, so wait for it a little.)
  const focused = await page
    .waitForFunction(() => document.activeElement?.id === "uid_field", { timeout: 5000 })
    .then(() => "uid_field")
    .catch(() => page.evaluate(() => document.activeElement?.id));
  if (focused !== "uid_field") throw new Error(`focus is on ${focused}, not the username`);
  await page.keyboard.type(username);
  await page.type("#password", password);
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  const stay = await page.content();
  if (!stay.includes("Stay signed in")) throw new Error(`expected "stay signed in":\n${stay}`);
  await page.click("input[name=remember_me]");
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("button[type=submit]")]);
  const landed = new URL(page.url());
  const text = await page.evaluate(() => document.body.innerText);
  if (landed.pathname !== "/" || !text.includes(`You are signed in as ${username}`)) {
    throw new Error(`did not land on the home page: ${page.url()}\n${text}`);
  }
  const cookies = await browser.cookies();
  const session = cookies.find((c) => c.name === "gatehouse_session");
  if (!session || !session.httpOnly) throw new Error("no HttpOnly session cookie");
  console.log(`OK ${page.url()}`);
} finally {
  await browser.close();
}
