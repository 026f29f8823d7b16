// Real-browser test (headless Chromium through playwright-core) of the HTML hardening headers
// (crates/server/src/security_headers.rs, issue 13): every page is loaded with the
// Content-Security-Policy the server sends, enforced by the browser, and the run fails on any
// violation — a `securitypolicyviolation` event, reported from an init script in every page, or
// the console error Chromium logs for it — and on any page (document response of the server)
// whose headers are missing or weak: a CSP with `unsafe-inline`/`unsafe-eval` or without
// `frame-ancestors 'none'`, no `X-Content-Type-Options: nosniff`, `Referrer-Policy` or
// `Permissions-Policy`.
//
// Visited, each checked to be styled by /static/gatehouse.css:
//  - signed out: sign-in, sign-up, password forgot/sent/reset-failed, email link failed, the
//    second-factor page without a pending sign-in, the 404 page, a refused authorization request;
//  - a user who signs up: account, email verification, TOTP start, enrolment (the QR code must
//    render), recovery codes, the device pages (entry, confirmation, done), sign-out;
//  - the code flow of a client whose redirect URI is on another origin (a relying party this
//    script runs): consent and its redirect, a later sign-in that redirects straight on to the
//    client, and the RP-initiated logout confirmation with its redirect — the redirects a form
//    starts are subject to `form-action`, so a missing origin fails here;
//  - the admin console with TOTP (an administrator created by run.sh, CSP_ADMIN_*): every page,
//    the htmx live search (it must work with htmx's own inline style turned off), the dashboard
//    charts, client creation and secret rotation, the console's 404.
//
// usage: node csp.mjs BASE_URL
// Environment: CSP_ADMIN_USERNAME, CSP_ADMIN_PASSWORD (an administrator without TOTP yet),
// CHROMIUM (default /usr/bin/chromium), BROWSER_TIMEOUT_MS (default 10000).
// Exits 0 when every step passed, 1 with "FAILED at step ..." and diagnostics otherwise.
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import {
  StepFailure,
  allow4xx,
  check,
  clickLink,
  configure,
  currentStep,
  describe,
  expectPage,
  fail,
  goto,
  navigate,
  navigations,
  one,
  serverErrors,
  step,
  submitForm,
  textOf,
  unexpectedBrowserErrors,
  watch,
} from './harness.mjs';
import { Authenticator, parseOtpauth } from './totp.mjs';

const [base] = process.argv.slice(2);
if (!base) {
  console.error('usage: node csp.mjs BASE_URL');
  process.exit(2);
}
const timeout = Number(process.env.BROWSER_TIMEOUT_MS || 10000);
configure({ base, timeout });
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const admin = { username: process.env.CSP_ADMIN_USERNAME, password: process.env.CSP_ADMIN_PASSWORD };
if (!admin.username || !admin.password) {
  console.error('set CSP_ADMIN_USERNAME and CSP_ADMIN_PASSWORD to an administrator without TOTP (run.sh creates one)');
  process.exit(2);
}
const origin = new URL(base).origin;
const suffix = `${process.pid}${Date.now() % 100000}`;
const user = { username: `csp.user${suffix}`, email: `csp.user${suffix}@example.com`, password: 'lantern meadow copper 5521' };

// ---------------------------------------------------------------------------------------------
// A relying party on another origin (another port): its callback and landing pages only say
// where the browser arrived.
const rpHits = [];
const rp = createServer((req, res) => {
  const url = new URL(req.url, 'http://rp');
  rpHits.push(url);
  const name = url.pathname === '/callback' ? 'rp-callback' : url.pathname === '/bye' ? 'rp-bye' : 'rp-other';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>RP</title><main data-page="${name}">${url.pathname}</main>`);
});
await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
const rpOrigin = `http://127.0.0.1:${rp.address().port}`;
const RP_CALLBACK = `${rpOrigin}/callback`;
const RP_BYE = `${rpOrigin}/bye`;

// ---------------------------------------------------------------------------------------------
// The policy as the browser applies it, and the headers of every document the server sends.
const violations = [];
const headerProblems = [];
const pagesChecked = new Set();

function reportViolation(label, v) {
  const { number, name } = currentStep();
  violations.push(
    `[${label}] ${v.disposition} violation of ${v.effectiveDirective} at ${v.documentURI}: blocked "${v.blockedURI}"` +
      `${v.sample ? ` (sample "${v.sample}")` : ''}${v.sourceFile ? ` from ${v.sourceFile}:${v.lineNumber}` : ''} (step ${number}: ${name})`,
  );
}

// Runs in every document before its own scripts.
function listenForViolations() {
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__ghCspViolation({
      effectiveDirective: e.effectiveDirective,
      blockedURI: e.blockedURI,
      documentURI: e.documentURI,
      disposition: e.disposition,
      sample: e.sample,
      sourceFile: e.sourceFile,
      lineNumber: e.lineNumber,
    });
  });
}

function checkDocumentHeaders(label, response) {
  const request = response.request();
  if (!request.isNavigationRequest() || !response.url().startsWith(origin)) return;
  const headers = response.headers();
  if (!(headers['content-type'] || '').startsWith('text/html')) return;
  const what = `[${label}] ${request.method()} ${response.url()} (HTTP ${response.status()})`;
  const problems = [];
  const csp = headers['content-security-policy'];
  if (!csp) problems.push('no Content-Security-Policy');
  else {
    if (/unsafe-inline|unsafe-eval/.test(csp)) problems.push(`CSP admits inline code: ${csp}`);
    if (!/(^|;)\s*frame-ancestors 'none'\s*(;|$)/.test(csp)) problems.push(`CSP without frame-ancestors 'none': ${csp}`);
    if (!/(^|;)\s*default-src 'none'\s*(;|$)/.test(csp)) problems.push(`CSP without default-src 'none': ${csp}`);
    if (!/(^|;)\s*form-action 'self'/.test(csp)) problems.push(`CSP without form-action 'self': ${csp}`);
  }
  if (headers['x-content-type-options'] !== 'nosniff') problems.push(`X-Content-Type-Options: ${headers['x-content-type-options']}`);
  if (!['no-referrer', 'strict-origin'].includes(headers['referrer-policy'])) problems.push(`Referrer-Policy: ${headers['referrer-policy']}`);
  if (!/camera=\(\)/.test(headers['permissions-policy'] || '')) problems.push(`Permissions-Policy: ${headers['permissions-policy']}`);
  if (problems.length) headerProblems.push(`${what}: ${problems.join('; ')}`);
  pagesChecked.add(new URL(response.url()).pathname);
}

async function newWatchedPage(browser, label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.exposeBinding('__ghCspViolation', (_source, v) => reportViolation(label, v));
  await context.addInitScript(listenForViolations);
  const page = await context.newPage();
  await watch(page, label);
  page.on('response', (response) => checkDocumentHeaders(label, response));
  return page;
}

// A step that also fails on a CSP violation or a weak header seen while it ran (violation
// events are delivered asynchronously: give them a moment).
async function cspStep(name, fn) {
  return step(name, async () => {
    const result = await fn();
    await new Promise((resolve) => setTimeout(resolve, 100));
    check(violations.length === 0, `CSP violations:\n  ${violations.join('\n  ')}`);
    check(headerProblems.length === 0, `pages without the hardening headers:\n  ${headerProblems.join('\n  ')}`);
    return result;
  });
}

// The page is styled by /static/gatehouse.css (a blocked stylesheet would leave it unstyled).
async function expectStyled(page) {
  const styled = await page.evaluate(() => {
    const sheet = [...document.styleSheets].find((s) => s.href && s.href.endsWith('/static/gatehouse.css'));
    return {
      rules: sheet ? sheet.cssRules.length : 0,
      margin: getComputedStyle(document.body).margin,
      inlineStyles: document.querySelectorAll('style, [style]').length,
    };
  });
  check(styled.rules > 10 && styled.margin === '0px', `${page.url()} is not styled by /static/gatehouse.css (${JSON.stringify(styled)})`);
  check(styled.inlineStyles === 0, `${page.url()} has ${styled.inlineStyles} inline style elements or attributes`);
}

async function visit(page, path, name, { status = 200, landsOn } = {}) {
  if (status >= 400) allow4xx(new URL(path, base).pathname);
  const response = await goto(page, path);
  await expectPage(page, name, response, { status, path: landsOn });
  await expectStyled(page);
  return response;
}

// The rendered size of the one element SELECTOR.
async function box(page, selector) {
  const element = await one(page, selector);
  const rect = await element.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return { width: r.width, height: r.height };
  });
  return rect;
}

async function signIn(page, login, password) {
  const response = await goto(page, '/login');
  await expectPage(page, 'login', response);
  return submitForm(page, 'form[action="/login"]', { username: login, password });
}

async function signOut(page) {
  await visit(page, '/account', 'account', { landsOn: '/account' });
  await expectPage(page, 'login', await submitForm(page, 'form[action="/logout"]'), { path: '/login' });
}

// From the totp-start page to the account page: the authenticator for the key shown.
async function enrolTotp(page, response, password) {
  await expectPage(page, 'totp-start', response);
  await expectStyled(page);
  const asksPassword = (await page.locator('form[action="/account/totp/enrol"] [name="password"]').count()) > 0;
  const enrol = await submitForm(page, 'form[action="/account/totp/enrol"]', asksPassword ? { password } : {});
  await expectPage(page, 'totp-enrol', enrol);
  await expectStyled(page);
  const qr = await box(page, 'figure.qr svg');
  check(qr.width >= 100 && qr.height >= 100, `the QR code renders at ${qr.width}x${qr.height} px`);
  const authenticator = new Authenticator(parseOtpauth(await textOf(page, '#totp-uri')));
  const confirmed = await submitForm(page, 'form[action="/account/totp/confirm"]', { code: await authenticator.nextCode() });
  await expectPage(page, 'recovery-codes', confirmed);
  await expectStyled(page);
  const continued = await clickLink(page, '#continue');
  await expectPage(page, 'account', continued);
  return authenticator;
}

const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');
function authorizePath(clientId, extra = {}) {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: RP_CALLBACK,
    scope: 'openid profile',
    state: `st-${suffix}`,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return `/authorize?${query}`;
}

// The browser arrived at the relying party's PAGE (a form's redirect got through form-action).
async function expectAtRp(page, response, name, what) {
  check(page.url().startsWith(rpOrigin), `${what}: the browser is at ${page.url()}, expected the relying party at ${rpOrigin}`);
  check(response && response.status() === 200, `${what}: the relying party answered HTTP ${response?.status()}`);
  await one(page, `main[data-page="${name}"]`);
  return new URL(page.url());
}

// ---------------------------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
let page;
let exitCode = 0;
try {
  page = await newWatchedPage(browser, 'visitor');

  await cspStep('signed out: sign-in, sign-up, password and email pages', async () => {
    await visit(page, '/login', 'login');
    await visit(page, '/register', 'register');
    await visit(page, '/password/forgot', 'password-forgot');
    const sent = await submitForm(page, 'form[action="/password/forgot"]', { email: `nobody${suffix}@example.com` });
    await expectPage(page, 'password-forgot-sent', sent);
    await expectStyled(page);
    await visit(page, '/password/reset?token=not-a-token', 'password-reset-failed', { status: 400 });
    await visit(page, '/email/verify?token=not-a-token', 'email-verify-failed', { status: 400 });
    await visit(page, '/login/second-factor', 'sign-in-again');
    await visit(page, '/device', 'login', { landsOn: '/login' });
    await visit(page, '/account', 'login', { landsOn: '/login' });
  });

  await cspStep('signed out: the error pages (404, a refused authorization request)', async () => {
    await visit(page, '/nowhere', 'error', { status: 404 });
    await visit(page, '/authorize?client_id=nobody&response_type=code', 'error', { status: 400 });
  });

  await cspStep(`${user.username} signs up; account and email verification pages`, async () => {
    await visit(page, '/register', 'register');
    const registered = await submitForm(page, '[data-page="register"] form:has([name="password"])', user);
    await expectPage(page, 'account', registered, { path: '/account' });
    await expectStyled(page);
    await visit(page, '/email/unverified', 'email-unverified');
  });

  let userTotp;
  await cspStep('TOTP: start, enrolment with its QR code, recovery codes', async () => {
    const start = await goto(page, '/account/totp?return_to=%2Faccount');
    userTotp = await enrolTotp(page, start, user.password);
  });

  // The administrator: enrol TOTP, then every console page.
  const adminPage = await newWatchedPage(browser, 'admin');
  let adminTotp;
  await cspStep(`${admin.username}: /admin asks for a second factor first; enrol TOTP`, async () => {
    const login = await goto(adminPage, '/admin');
    await expectPage(adminPage, 'login', login, { path: '/login' });
    const response = await submitForm(adminPage, 'form[action="/login"]', { username: admin.username, password: admin.password });
    await expectPage(adminPage, 'admin-enrol-2fa', response, { status: 403 });
    await expectStyled(adminPage);
    adminTotp = await enrolTotp(adminPage, await clickLink(adminPage, 'a[data-action="enrol-2fa"]'), admin.password);
  });

  await cspStep('the admin signs in again with the code: second-factor page, dashboard with its charts', async () => {
    await signOut(adminPage);
    const password = await signIn(adminPage, admin.username, admin.password);
    await expectPage(adminPage, 'second-factor', password);
    await expectStyled(adminPage);
    const dashboard = await submitForm(adminPage, 'form[action="/login/second-factor"]', { code: await adminTotp.nextCode() });
    await expectPage(adminPage, 'account', dashboard);
    await visit(adminPage, '/admin', 'admin-dashboard');
    const charts = await adminPage.locator('svg[data-chart="sign-ins"]').evaluateAll((svgs) =>
      svgs.map((svg) => {
        const r = svg.getBoundingClientRect();
        return { width: r.width, height: r.height, margin: getComputedStyle(svg.closest('figure')).margin, bars: svg.querySelectorAll('g[data-sign-ins] rect').length };
      }),
    );
    check(charts.length === 2, `the dashboard shows ${charts.length} charts, expected 2`);
    for (const chart of charts) {
      check(chart.width > 200 && chart.height > 50, `a chart renders at ${chart.width}x${chart.height} px`);
      check(chart.margin === '0px', `a chart's figure has margin ${chart.margin} (the class that replaced its inline style did not apply)`);
      check(chart.bars >= 1, 'a chart draws no bar (the sign-ins of this run should show)');
    }
  });

  await cspStep('Users: the htmx live search works (no inline style, no eval) and a user page', async () => {
    await visit(adminPage, '/admin/users', 'admin-users');
    check(await adminPage.evaluate(() => typeof window.htmx === 'object'), 'htmx did not load');
    const found = await submitForm(adminPage, 'form[data-form="user-search"]', { search: user.username });
    check(found.request().headers()['hx-request'] === 'true', 'the search was not made by htmx');
    const rows = await adminPage.locator(`tr[data-user="${user.username}"]`).count();
    check(rows === 1, `the htmx search lists ${rows} rows for ${user.username}`);
    check(new URL(adminPage.url()).searchParams.get('search') === user.username, `htmx did not push the search URL (at ${adminPage.url()})`);
    const styles = await adminPage.evaluate(() => document.querySelectorAll('style').length);
    check(styles === 0, `htmx inserted ${styles} <style> elements`);
    const opened = await clickLink(adminPage, `tr[data-user="${user.username}"] a[data-user-link]`);
    await expectPage(adminPage, 'admin-user', opened);
    await expectStyled(adminPage);
  });

  let clientId;
  await cspStep('Clients: new client (public, redirect URI on another origin), its page, a secret rotation of a second client', async () => {
    await visit(adminPage, '/admin/clients', 'admin-clients');
    await visit(adminPage, '/admin/clients/new', 'admin-client-new');
    const created = await submitForm(adminPage, 'form[data-form="create-client"]', {
      name: `CSP relying party ${suffix}`,
      client_type: 'public',
      redirect_uris: RP_CALLBACK,
      post_logout_redirect_uris: RP_BYE,
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
      scopes: 'openid profile',
    });
    await expectPage(adminPage, 'admin-client-created', created);
    await expectStyled(adminPage);
    clientId = await textOf(adminPage, '[data-client-id]');
    await visit(adminPage, `/admin/clients/${encodeURIComponent(clientId)}`, 'admin-client');

    await visit(adminPage, '/admin/clients/new', 'admin-client-new');
    const confidential = await submitForm(adminPage, 'form[data-form="create-client"]', {
      name: `CSP service ${suffix}`,
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scopes: 'reports.read',
    });
    await expectPage(adminPage, 'admin-client-created', confidential);
    const serviceId = await textOf(adminPage, '[data-client-id]');
    await visit(adminPage, `/admin/clients/${encodeURIComponent(serviceId)}`, 'admin-client');
    const rotated = await submitForm(adminPage, 'form[data-form="rotate-secret"]');
    await expectPage(adminPage, 'admin-client-secret', rotated);
    await expectStyled(adminPage);
  });

  await cspStep('Organisations, audit log, signing keys, roles, the console 404', async () => {
    await visit(adminPage, '/admin/organizations', 'admin-organizations');
    await visit(adminPage, '/admin/audit', 'admin-audit');
    const nowrap = await adminPage.locator('tr[data-event] code.nowrap').first().evaluate((el) => getComputedStyle(el).whiteSpace);
    check(nowrap === 'nowrap', `the audit log's action codes wrap (white-space: ${nowrap})`);
    await visit(adminPage, '/admin/keys', 'admin-keys');
    await visit(adminPage, '/admin/roles', 'admin-roles');
    const missing = await goto(adminPage, '/admin/users/00000000-0000-0000-0000-000000000000');
    allow4xx(new URL(adminPage.url()).pathname);
    check(missing.status() === 404, `an unknown user's console page answered HTTP ${missing.status()}`);
    await expectStyled(adminPage);
  });

  // The code flow in the user's browser, to a relying party on another origin.
  await cspStep('consent: Allow posts to /authorize, which redirects to the client (form-action)', async () => {
    const consent = await goto(page, authorizePath(clientId, { prompt: 'consent' }));
    await expectPage(page, 'consent', consent);
    await expectStyled(page);
    const response = await navigate(page, () => page.locator('[data-page="consent"] button[value="approve"]').click({ timeout }));
    const arrived = await expectAtRp(page, response, 'rp-callback', 'Allow on the consent page');
    check(arrived.searchParams.get('code') && arrived.searchParams.get('state') === `st-${suffix}`, `the client got ${arrived}`);
  });

  await cspStep('consent: Deny redirects to the client with access_denied', async () => {
    const consent = await goto(page, authorizePath(clientId, { prompt: 'consent' }));
    await expectPage(page, 'consent', consent);
    const response = await navigate(page, () => page.locator('[data-page="consent"] button[value="deny"]').click({ timeout }));
    const arrived = await expectAtRp(page, response, 'rp-callback', 'Deny on the consent page');
    check(arrived.searchParams.get('error') === 'access_denied', `the client got ${arrived}`);
  });

  await cspStep('signed out, the flow signs in (password + code) and goes straight on to the client', async () => {
    await signOut(page);
    const login = await goto(page, authorizePath(clientId));
    await expectPage(page, 'login', login, { path: '/login' });
    await expectStyled(page);
    const factor = await submitForm(page, 'form[action="/login"]', { username: user.username, password: user.password });
    await expectPage(page, 'second-factor', factor);
    await expectStyled(page);
    const response = await submitForm(page, 'form[action="/login/second-factor"]', { code: await userTotp.nextCode() });
    await expectAtRp(page, response, 'rp-callback', 'the second-factor form continuing the authorization');
  });

  await cspStep('device pages: entry, confirmation, done', async () => {
    const started = await fetch(new URL('/device_authorization', base), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, scope: 'openid' }),
    });
    const body = await started.json();
    check(started.status === 200 && body.user_code, `/device_authorization answered HTTP ${started.status} ${JSON.stringify(body)}`);
    await visit(page, '/device', 'device');
    const confirm = await submitForm(page, 'form[action="/device"]', { user_code: body.user_code });
    await expectPage(page, 'device-confirm', confirm);
    await expectStyled(page);
    const done = await submitForm(page, '[data-page="device-confirm"] form[action="/device"]');
    await expectPage(page, 'device-done', done);
    await expectStyled(page);
  });

  await cspStep('RP-initiated logout: the confirmation posts to /logout, which redirects to the client', async () => {
    const query = new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: RP_BYE, state: 'bye' });
    await visit(page, `/logout?${query}`, 'logout');
    const response = await navigate(page, () => page.locator('[data-page="logout"] button[type="submit"]').click({ timeout }));
    const arrived = await expectAtRp(page, response, 'rp-bye', 'the logout confirmation');
    check(arrived.searchParams.get('state') === 'bye', `the client got ${arrived}`);
  });

  await cspStep(`every page checked had the hardening headers (${pagesChecked.size} paths)`, async () => {
    for (const path of ['/login', '/register', '/account', '/account/totp/enrol', '/authorize', '/logout', '/device', '/admin', '/admin/users', '/admin/audit']) {
      check(pagesChecked.has(path), `no page at ${path} was checked`);
    }
  });
  console.log(`all ${currentStep().number} browser steps passed; pages checked: ${[...pagesChecked].sort().join(' ')}`);
} catch (err) {
  exitCode = 1;
  const { number, name } = currentStep();
  console.error(`\nFAILED at step ${number}: ${name}`);
  console.error(err instanceof StepFailure ? err.message : err.stack || String(err));
  if (page) console.error(await describe(page, 'visitor'));
  console.error(`last document responses:\n  ${navigations.slice(-15).join('\n  ') || '(none)'}`);
  const errors = [...serverErrors, ...unexpectedBrowserErrors(), ...violations, ...headerProblems];
  if (errors.length) console.error(`errors seen:\n  ${errors.join('\n  ')}`);
} finally {
  await browser.close();
  rp.close();
}
process.exit(exitCode);
