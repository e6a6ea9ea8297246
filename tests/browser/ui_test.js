// Headless Chromium against a running stack (tests/browser/run.sh starts
// it): the dev test page's @sentry/browser sends an error through the relay
// (CORS), the backend groups it, and the web UI shows, opens and resolves
// the issue. Screenshots go to TERN_ARTIFACTS. Exits non-zero on failure.
'use strict';
const { chromium } = require('playwright-core');
const assert = require('node:assert/strict');
const path = require('node:path');

const ui = process.env.TERN_UI_URL; // http://127.0.0.1:PORT
const relay = process.env.TERN_RELAY_URL; // http://127.0.0.1:PORT
const dsn = process.env.TERN_DSN;
const token = process.env.TERN_API_TOKEN;
const slug = process.env.TERN_PROJECT_SLUG;
const artifacts = process.env.TERN_ARTIFACTS;
for (const [k, v] of Object.entries({ ui, relay, dsn, token, slug, artifacts })) {
  assert.ok(v, `missing environment for ${k}`);
}

const shot = (page, name) =>
  page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.TERN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();

    // 1. The SDK test page: load, click, and wait for the relay's answer.
    await page.goto(`${ui}/dev/browser-test?dsn=${encodeURIComponent(dsn)}`);
    await page.waitForSelector('#state[data-ready="1"]', { timeout: 30000 });
    // The SDK also sends a session envelope at init: wait for the one that
    // carries the button's error.
    const sent = page.waitForResponse(
      (r) => r.url().startsWith(`${relay}/api/`) && r.request().method() === 'POST' &&
        (r.request().postData() || '').includes('Tern browser test'),
      { timeout: 30000 });
    const thrown = page.waitForEvent('pageerror', { timeout: 30000 });
    await page.click('#throw');
    assert.match(String(await thrown), /Tern browser test: button clicked/);
    const response = await sent;
    assert.equal(response.status(), 200, `relay answered ${response.status()}`);
    await shot(page, '1-browser-test');

    // A request that needs a CORS preflight (JSON content type): the relay
    // must answer OPTIONS with this origin, then accept the POST.
    const key = new URL(dsn).username;
    const projectId = new URL(dsn).pathname.replace(/\//g, '');
    const preflighted = await page.evaluate(async ([relayUrl, k, id]) => {
      const r = await fetch(`${relayUrl}/api/${id}/store/?sentry_key=${k}&sentry_version=7`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ message: 'tern browser preflight check', level: 'info' }),
      });
      return { status: r.status, body: await r.text() };
    }, [relay, key, projectId]);
    assert.equal(preflighted.status, 200, `preflighted POST: ${JSON.stringify(preflighted)}`);

    // 2. Log in with the API token (dev mode would let 127.0.0.1 in anyway;
    // the session cookie is what this checks).
    await page.goto(`${ui}/login`);
    await page.fill('input[name=token]', token);
    await Promise.all([page.waitForURL(`${ui}/`), page.click('button[type=submit]')]);
    const cookies = await context.cookies(ui);
    const session = cookies.find((c) => c.name === 'tern_session');
    assert.ok(session, 'no session cookie after login');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.ok(await page.isVisible('text=Log out'), 'no log-out button once logged in');
    await shot(page, '2-projects');

    // 3. The project's issues: the new issue appears once the backend has
    // consumed it (reload until it does).
    await page.click(`a[href="/projects/${slug}/"]`);
    const title = 'a.title:has-text("Tern browser test")';
    const deadline = Date.now() + 60000;
    while (!(await page.isVisible(title))) {
      assert.ok(Date.now() < deadline, 'the issue did not appear in the UI within 60 s');
      await page.waitForTimeout(250);
      await page.reload();
    }
    assert.ok(await page.isVisible('svg.spark rect'), 'no sparkline bar');
    await shot(page, '3-issues');

    // 4. The issue page: exception, frames, breadcrumbs, request.
    await Promise.all([page.waitForURL(/\/issues\/\d+\/$/), page.click(title)]);
    await page.waitForSelector('.exc h3');
    assert.equal(await page.textContent('.exc h3'), 'Error');
    assert.ok((await page.locator('.frame').count()) > 0, 'no stack frame shown');
    assert.ok(await page.isVisible('text=throw button clicked'), 'breadcrumb missing');
    assert.ok(await page.isVisible('h2:has-text("Request")'), 'request missing');
    assert.match(await page.textContent('#status'), /unresolved/);
    await shot(page, '4-issue');

    // 5. Resolve it: the form posts, the page comes back resolved.
    await Promise.all([page.waitForURL(/\/issues\/\d+\/$/), page.click('#resolved')]);
    assert.match(await page.textContent('#status'), /resolved/);
    assert.doesNotMatch(await page.textContent('#status'), /unresolved/);
    assert.ok(await page.isVisible('#unresolved'), 'no unresolve button');
    await shot(page, '5-resolved');
    await page.goto(`${ui}/projects/${slug}/?status=resolved`);
    assert.ok(await page.isVisible(title), 'resolved issue not under the resolved filter');
    await page.goto(`${ui}/projects/${slug}/`);
    assert.ok(!(await page.isVisible(title)), 'resolved issue still listed as unresolved');
  } finally {
    await browser.close();
  }
}

main().then(
  () => console.log('browser: 1 passed, 0 failed'),
  (e) => {
    console.error(e);
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
  });
