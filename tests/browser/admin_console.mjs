// Real-browser end-to-end test (headless Chromium through playwright-core) of the admin console
// (/admin, issue 11), against a running `gatehouse serve` with `admin.require_2fa` on (the
// default) and self-service sign-up open:
//  - the bootstrap admin is sent to enrol TOTP before the console opens, enrols on /account/totp
//    (codes computed here from the key the page shows, RFC 6238), signs out, signs in again with
//    password + code and opens the dashboard;
//  - a user signs up in a second browser context and turns on TOTP too;
//  - the admin finds the user with the search form and locks them with a reason (their session
//    ends, their sign-in is refused), unlocks them (their sign-in works again) and resets their
//    2FA (their sign-in asks no code);
//  - the admin creates a confidential client_credentials client, whose secret (shown once) gets
//    a token at /token; rotating it in the console makes the old secret fail with invalid_client
//    and the new one work;
//  - the audit log, signing keys, roles and dashboard pages show what was done.
// Each console page visited is photographed at 1280 px (the dashboard, users list and user page
// at 390x844 too) into SCREENSHOT_DIR, and measured at 390 px for horizontal overflow. Any
// unexpected page (`data-page`), console error, page error or HTTP 5xx fails the run, and so
// does any page wider than the phone (all such pages are listed at the end).
// The page contract (URLs, data-* markers) is the console's, issue 11.
//
// usage: node admin_console.mjs BASE_URL SCREENSHOT_DIR
// Environment: ADMIN_USERNAME (default GATEHOUSE__BOOTSTRAP__ADMIN_USERNAME or "admin"),
// ADMIN_PASSWORD (default GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD), CHROMIUM (default
// /usr/bin/chromium), BROWSER_TIMEOUT_MS (page waits, default 10000), REAUTH_WINDOW_SECS (the
// server's two_factor.reauthentication_window_secs: when set, the run ends by waiting it out
// and rotating the signing keys, which must ask the admin to sign in again first).
// Exits 0 when every step passed, 1 with "FAILED at step ..." and diagnostics otherwise.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  StepFailure,
  check,
  clickLink,
  configure,
  currentStep,
  describe,
  expectNotice,
  expectPage,
  expectText,
  fail,
  goto,
  navigations,
  one,
  serverError,
  serverErrors,
  step,
  submitForm,
  textOf,
  unexpectedBrowserErrors,
  watch,
} from './harness.mjs';
import { Authenticator, parseOtpauth } from './totp.mjs';

const [base, shotDir] = process.argv.slice(2);
if (!base || !shotDir) {
  console.error('usage: node admin_console.mjs BASE_URL SCREENSHOT_DIR');
  process.exit(2);
}
configure({ base, timeout: Number(process.env.BROWSER_TIMEOUT_MS || 10000) });
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const admin = {
  username: process.env.ADMIN_USERNAME || process.env.GATEHOUSE__BOOTSTRAP__ADMIN_USERNAME || 'admin',
  password: process.env.ADMIN_PASSWORD || process.env.GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD,
};
if (!admin.password) {
  console.error('set ADMIN_PASSWORD (or GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD) to the bootstrap admin password');
  process.exit(2);
}
const REAUTH_WINDOW_SECS = Number(process.env.REAUTH_WINDOW_SECS || 0);
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
mkdirSync(shotDir, { recursive: true });

const suffix = `${process.pid}${Date.now() % 100000}`;
const user = {
  username: `console.user${suffix}`,
  email: `console.user${suffix}@example.com`,
  password: 'granite orchard sailing 4417',
};
const CLIENT_NAME = `Reports bot ${suffix}`;
const CLIENT_SCOPE = 'reports.read';
const LOCK_REASON = 'browser test: suspicious sign-ins';

// ---------------------------------------------------------------------------------------------
// Screenshots, and the overflow check at phone width. A page is measured by narrowing the
// viewport of the page already shown, so that pages a POST produced (the client's secret) are
// measured without sending their form again; then the viewport is put back to 1280 px.
const screenshots = [];
const measured = [];
const overflowing = [];
let overflowReported = false;

async function photograph(page, name, { phone = false } = {}) {
  const file = join(shotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
  await page.setViewportSize(PHONE);
  const width = await page.evaluate(() => {
    const limit = window.innerWidth + 1;
    const past = (el) => {
      const box = el.getBoundingClientRect();
      return box.width > 0 && box.right > limit;
    };
    // Inside a box that scrolls or clips (a .table-wrap) and itself fits: no overflow of the page.
    const contained = (el) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        if (getComputedStyle(up).overflowX !== 'visible' && !past(up)) return true;
      }
      return false;
    };
    // The innermost elements past the edge (none of their children is): what to fix.
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      if (!past(el) || [...el.children].some(past) || contained(el)) continue;
      const classes = typeof el.className === 'string' && el.className.trim() ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
      const text = (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 40);
      wide.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${classes} "${text}" (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
    }
    return { scroll: document.documentElement.scrollWidth, inner: window.innerWidth, wide };
  });
  measured.push(name);
  if (width.scroll > width.inner + 1) {
    overflowing.push(
      `${name} (${page.url()}): scrollWidth ${width.scroll} > innerWidth ${width.inner}; ` +
        `past the edge: ${width.wide.slice(0, 6).join(', ') || '(no element found)'}${width.wide.length > 6 ? ` and ${width.wide.length - 6} more` : ''}`,
    );
  }
  if (phone) {
    const phoneFile = join(shotDir, `${name}-phone.png`);
    await page.screenshot({ path: phoneFile, fullPage: true });
    screenshots.push(phoneFile);
  }
  await page.setViewportSize(DESKTOP);
}

// ---------------------------------------------------------------------------------------------
// Sign-in and two-factor flows, through the ordinary pages.
async function signIn(page, login, password, returnTo) {
  const response = await goto(page, returnTo ? `/login?return_to=${encodeURIComponent(returnTo)}` : '/login');
  await expectPage(page, 'login', response);
  return submitForm(page, 'form[action="/login"]', { username: login, password });
}

async function secondFactor(page, authenticator, response) {
  await expectPage(page, 'second-factor', response);
  return submitForm(page, 'form[action="/login/second-factor"]', { code: await authenticator.nextCode() });
}

// From the totp-start page (reached with RESPONSE) to the recovery codes and their "Continue":
// the authenticator for the key the enrolment page showed, and the response of "Continue".
async function enrolTotp(page, response, password) {
  await expectPage(page, 'totp-start', response);
  const asksPassword = (await page.locator('form[action="/account/totp/enrol"] [name="password"]').count()) > 0;
  const enrol = await submitForm(page, 'form[action="/account/totp/enrol"]', asksPassword ? { password } : {});
  await expectPage(page, 'totp-enrol', enrol);
  const key = (await textOf(page, '#totp-secret')).replace(/\s/g, '');
  const params = parseOtpauth(await textOf(page, '#totp-uri'));
  check(params.secret === key, `the key shown (${key}) is not the one in the otpauth URI (${params.secret})`);
  const authenticator = new Authenticator(params);
  const confirmed = await submitForm(page, 'form[action="/account/totp/confirm"]', { code: await authenticator.nextCode() });
  await expectPage(page, 'recovery-codes', confirmed);
  return { authenticator, continued: await clickLink(page, '#continue') };
}

async function signOut(page) {
  const response = await goto(page, '/account');
  await expectPage(page, 'account', response, { path: '/account' });
  await expectPage(page, 'login', await submitForm(page, 'form[action="/logout"]'), { path: '/login' });
}

// FN on a page of a new browser context (no cookies), closed afterwards.
async function inFreshContext(browser, label, fn) {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  await watch(page, label);
  try {
    return await fn(page);
  } finally {
    await context.close();
  }
}

// A refused sign-in: the sign-in page again, 401, with an alert.
async function expectSignInRefused(page, response, what) {
  try {
    await expectPage(page, 'login', response, { status: 401 });
  } catch (err) {
    fail(`${what}: ${err.message}`);
  }
  check((await page.locator('[role="alert"]').count()) > 0, `${what}: the sign-in page shows no error (role="alert")`);
}

// ---------------------------------------------------------------------------------------------
// The token endpoint, from Node: a service, not a browser, uses client_credentials.
async function clientCredentials(clientId, secret) {
  const response = await fetch(new URL('/token', base), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: CLIENT_SCOPE }),
  });
  const text = await response.text();
  if (response.status >= 500) serverError(`POST /token -> HTTP ${response.status}: ${text.slice(0, 300)}`);
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return fail(`/token answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 300)}`);
  }
}

async function expectToken(clientId, secret, what) {
  const { status, body } = await clientCredentials(clientId, secret);
  check(status === 200 && typeof body.access_token === 'string', `${what}: /token answered HTTP ${status} ${JSON.stringify(body)}, expected 200 with an access_token`);
  check(body.scope === CLIENT_SCOPE, `${what}: the token's scope is "${body.scope}", expected "${CLIENT_SCOPE}"`);
}

async function expectInvalidClient(clientId, secret, what) {
  const { status, body } = await clientCredentials(clientId, secret);
  check(status === 401 && body.error === 'invalid_client', `${what}: /token answered HTTP ${status} ${JSON.stringify(body)}, expected 401 invalid_client`);
}

// ---------------------------------------------------------------------------------------------
// Console helpers.

// A page that shows a secret must not stay in the browser's cache (back button, shared machine).
async function expectNoStore(response, what) {
  const cacheControl = (await response.allHeaders())['cache-control'] || '';
  check(/\bno-store\b/.test(cacheControl), `${what} is sent with Cache-Control "${cacheControl}", expected no-store`);
}

// Follows the console's navigation bar to PATH and checks the page NAME is there.
async function viaNav(page, path, name) {
  const response = await clickLink(page, `.console-nav a[href="${path}"]`);
  await expectPage(page, name, response, { path });
  return response;
}

// The number in the text of SELECTOR ("1,024 users" reads 1024).
async function numberIn(page, selector) {
  const text = await textOf(page, selector);
  const digits = text.replace(/[^\d]/g, '');
  check(digits !== '', `${selector} at ${page.url()} holds no number: "${text}"`);
  return Number(digits);
}

async function count(page, selector) {
  return page.locator(selector).count();
}

// Submits a form of the user page and checks it comes back to the user page with a notice.
async function userAction(page, userPath, form, fields = {}) {
  const response = await submitForm(page, `form[data-form="${form}"]`, fields);
  await expectPage(page, 'admin-user', response, { path: userPath });
  return expectNotice(page, `the ${form} form`);
}

// ---------------------------------------------------------------------------------------------
const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
let page;
let exitCode = 0;
try {
  page = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await watch(page, 'admin');
  const userContext = await browser.newContext({ viewport: DESKTOP });
  const userPage = await userContext.newPage();
  await watch(userPage, 'user');
  let adminTotp;
  let userTotp;
  // When the admin's last sign-in completed (at the latest).
  let adminSignedInAt;

  // 1. The admin: sign in, enrol TOTP, sign in again with it.
  await step(`/admin without a session -> /login; sign in as ${admin.username} -> admin-enrol-2fa (403)`, async () => {
    const first = await goto(page, '/admin');
    await expectPage(page, 'login', first, { path: '/login' });
    const returnTo = new URL(page.url()).searchParams.get('return_to');
    check(returnTo === '/admin', `/login was reached with return_to="${returnTo}", expected "/admin"`);
    const response = await submitForm(page, 'form[action="/login"]', { username: admin.username, password: admin.password });
    await expectPage(page, 'admin-enrol-2fa', response, { status: 403, path: '/admin' });
    await photograph(page, 'admin-enrol-2fa');
  });

  await step('follow data-action="enrol-2fa" to /account/totp and turn TOTP on', async () => {
    const response = await clickLink(page, 'a[data-action="enrol-2fa"]');
    const { authenticator, continued } = await enrolTotp(page, response, admin.password);
    adminTotp = authenticator;
    await expectPage(page, 'account', continued, { path: '/account' });
    check((await count(page, '[data-totp="on"]')) === 1, `/account does not show data-totp="on" after the enrolment`);
  });

  await step('sign out; /admin -> sign in with password + TOTP code -> admin-dashboard', async () => {
    await signOut(page);
    const first = await goto(page, '/admin');
    await expectPage(page, 'login', first, { path: '/login' });
    const password = await submitForm(page, 'form[action="/login"]', { username: admin.username, password: admin.password });
    const response = await secondFactor(page, adminTotp, password);
    adminSignedInAt = Date.now();
    await expectPage(page, 'admin-dashboard', response, { path: '/admin' });
    await expectText(page, '[data-admin-username]', admin.username);
  });

  // 2. A user with TOTP, in a second browser context.
  await step(`${user.username} signs up on /register and turns TOTP on (second browser context)`, async () => {
    const form = await goto(userPage, '/register');
    await expectPage(userPage, 'register', form);
    const registered = await submitForm(userPage, '[data-page="register"] form:has([name="password"])', user);
    await expectPage(userPage, 'account', registered, { path: '/account' });
    const start = await goto(userPage, '/account/totp?return_to=%2Faccount');
    const { authenticator, continued } = await enrolTotp(userPage, start, user.password);
    userTotp = authenticator;
    await expectPage(userPage, 'account', continued, { path: '/account' });
    check((await count(userPage, '[data-totp="on"]')) === 1, `the user's /account does not show data-totp="on"`);
  });

  // 3. Find, lock, unlock, reset 2FA.
  let userPath;
  await step('Users: search for the user with form[data-form="user-search"], open their page', async () => {
    await viaNav(page, '/admin/users', 'admin-users');
    for (const field of ['input[name="search"]', 'select[name="status"]', 'select[name="role"]']) {
      check((await count(page, `form[data-form="user-search"] ${field}`)) === 1, `the search form has no ${field}`);
    }
    const found = await submitForm(page, 'form[data-form="user-search"]', { search: user.username.slice(0, -2) });
    await expectPage(page, 'admin-users', found, { path: '/admin/users' });
    const total = await numberIn(page, '[data-total]');
    check(total >= 1, `[data-total] reads ${total} for a search that matches ${user.username}`);
    const link = `tr[data-user="${user.username}"] a[data-user-link]`;
    const href = await (await one(page, link)).getAttribute('href');
    check(/^\/admin\/users\/[^/?#]+$/.test(href || ''), `${link} points to "${href}", expected /admin/users/{id}`);
    await photograph(page, 'admin-users', { phone: true });
    const opened = await clickLink(page, link);
    userPath = href;
    await expectPage(page, 'admin-user', opened, { path: userPath });
    await expectText(page, '[data-username]', user.username);
    await expectText(page, '[data-status]', 'active');
    await expectText(page, '[data-totp]', 'enabled');
    const verified = await textOf(page, '[data-email-verified]');
    check(['true', 'false'].includes(verified), `[data-email-verified] reads "${verified}", expected true or false`);
    check((await count(page, 'tr[data-session]')) >= 1, `the user page lists no session (tr[data-session]) though the user is signed in`);
    for (const form of ['lock', 'verify-email', 'roles', 'reset-2fa', 'password-reset', 'end-sessions', 'delete-user']) {
      check((await count(page, `form[data-form="${form}"]`)) === 1, `the user page has no single form[data-form="${form}"]`);
    }
    check((await count(page, 'form[data-form="lock"] [name="until"]')) === 1, `the lock form has no field "until"`);
    const roles = await page.locator('form[data-form="roles"] input[type="checkbox"][name="role"]').evaluateAll((els) => els.map((el) => el.value).sort().join(' '));
    check(roles === 'admin auditor client_admin user_admin', `the roles form offers the roles "${roles}"`);
  });

  await step('without JavaScript the same search works as a plain GET form', async () => {
    const context = await browser.newContext({
      viewport: DESKTOP,
      javaScriptEnabled: false,
      storageState: await page.context().storageState(),
    });
    try {
      const plain = await context.newPage();
      await watch(plain, 'admin, no JS');
      await expectPage(plain, 'admin-users', await goto(plain, '/admin/users'), { path: '/admin/users' });
      const found = await submitForm(plain, 'form[data-form="user-search"]', { search: user.username });
      await expectPage(plain, 'admin-users', found, { path: '/admin/users' });
      check(found.request().isNavigationRequest(), 'without JavaScript the search did not load a new page');
      check((await count(plain, `tr[data-user="${user.username}"]`)) === 1, `the search without JavaScript does not list ${user.username}`);
    } finally {
      await context.close();
    }
  });

  await step('lock the user with a reason -> notice, data-status "locked", listed under status=locked', async () => {
    await userAction(page, userPath, 'lock', { reason: LOCK_REASON });
    await expectText(page, '[data-status]', 'locked');
    check((await count(page, 'tr[data-session]')) === 0, `the user page still lists sessions after the lock`);
    await goto(page, '/admin/users');
    const locked = await submitForm(page, 'form[data-form="user-search"]', { search: user.username, status: 'locked' });
    await expectPage(page, 'admin-users', locked, { path: '/admin/users' });
    check((await count(page, `tr[data-user="${user.username}"]`)) === 1, `the users list filtered on status=locked does not show ${user.username}`);
  });

  await step('the locked user: their session ended, and a fresh sign-in is refused', async () => {
    const account = await goto(userPage, '/account');
    await expectPage(userPage, 'login', account, { path: '/login' });
    await inFreshContext(browser, 'locked user', async (other) => {
      await expectSignInRefused(other, await signIn(other, user.username, user.password), 'the locked user signing in');
    });
  });

  await step('unlock -> notice, data-status "active"; the user signs in again with password + code', async () => {
    await goto(page, userPath);
    await userAction(page, userPath, 'unlock');
    await expectText(page, '[data-status]', 'active');
    await inFreshContext(browser, 'unlocked user', async (other) => {
      const response = await secondFactor(other, userTotp, await signIn(other, user.username, user.password));
      await expectPage(other, 'account', response, { path: '/account' });
    });
  });

  await step('reset the user\'s 2FA -> notice, data-totp "off"; their sign-in asks no code', async () => {
    await goto(page, userPath);
    await userAction(page, userPath, 'reset-2fa');
    await expectText(page, '[data-totp]', 'off');
    await inFreshContext(browser, 'user without 2FA', async (other) => {
      const response = await signIn(other, user.username, user.password);
      await expectPage(other, 'account', response, { path: '/account' });
    });
    await expectPage(page, 'admin-user', await goto(page, userPath), { path: userPath });
    check((await count(page, 'tr[data-event]')) >= 3, `the user's audit trail (tr[data-event]) has fewer than 3 events after lock, unlock and 2FA reset`);
    await photograph(page, 'admin-user', { phone: true });
  });

  // 4. A client: create, get a token, rotate the secret.
  let clientId;
  let firstSecret;
  await step('Clients -> new client: confidential, client_credentials, scope reports.read -> secret shown once', async () => {
    await viaNav(page, '/admin/clients', 'admin-clients');
    const form = await clickLink(page, 'a[data-action="new-client"]');
    await expectPage(page, 'admin-client-new', form, { path: '/admin/clients/new' });
    await photograph(page, 'admin-client-new');
    const fields = { name: CLIENT_NAME, grant_types: ['client_credentials'], scopes: CLIENT_SCOPE };
    if ((await count(page, 'form[data-form="create-client"] [name="client_type"]')) > 0) fields.client_type = 'confidential';
    const created = await submitForm(page, 'form[data-form="create-client"]', fields);
    await expectPage(page, 'admin-client-created', created);
    await expectNoStore(created, 'the page showing the new client\'s secret');
    clientId = await textOf(page, '[data-client-id]');
    firstSecret = await textOf(page, '[data-client-secret]');
    check(clientId && firstSecret, `the created-client page shows client id "${clientId}" and secret "${firstSecret}"`);
    check(!page.url().includes(firstSecret), `the secret is in the URL ${page.url()}`);
    const cookies = await page.context().cookies();
    const inCookie = cookies.find((c) => c.value.includes(firstSecret) || c.value.includes(encodeURIComponent(firstSecret)));
    check(!inCookie, `the secret is in the cookie ${inCookie?.name}`);
    await photograph(page, 'admin-client-created');
  });

  await step('the secret gets a client_credentials token at /token', async () => {
    await expectToken(clientId, firstSecret, 'the secret shown at creation');
  });

  let secondSecret;
  await step('the client in the list -> its page -> rotate the secret -> admin-client-secret', async () => {
    await viaNav(page, '/admin/clients', 'admin-clients');
    const row = `tr[data-client="${clientId}"]`;
    check((await count(page, row)) === 1, `the clients list has no ${row}`);
    await photograph(page, 'admin-clients');
    const opened = await clickLink(page, `${row} a[data-client-link]`);
    await expectPage(page, 'admin-client', opened);
    await expectText(page, '[data-client-id]', clientId);
    await expectText(page, '[data-enabled]', 'true');
    for (const form of ['edit-client', 'rotate-secret', 'disable-client', 'delete-client']) {
      check((await count(page, `form[data-form="${form}"]`)) === 1, `the client page has no form[data-form="${form}"]`);
    }
    await photograph(page, 'admin-client');
    const rotated = await submitForm(page, 'form[data-form="rotate-secret"]');
    await expectPage(page, 'admin-client-secret', rotated);
    await expectNoStore(rotated, 'the page showing the rotated secret');
    secondSecret = await textOf(page, '[data-client-secret]');
    check(secondSecret && secondSecret !== firstSecret, `the rotated secret "${secondSecret}" is empty or the old one`);
    check(!page.url().includes(secondSecret), `the new secret is in the URL ${page.url()}`);
    await photograph(page, 'admin-client-secret');
  });

  await step('the old secret fails at /token with invalid_client; the new one gets a token', async () => {
    await expectInvalidClient(clientId, firstSecret, 'the secret before the rotation');
    await expectToken(clientId, secondSecret, 'the rotated secret');
  });

  // 5. The other pages.
  await step('Audit log: each action done here is listed (filtered by action); no secret shown', async () => {
    await viaNav(page, '/admin/audit', 'admin-audit');
    check((await count(page, 'form[data-form="audit-filter"]')) === 1, `no form[data-form="audit-filter"]`);
    check((await count(page, 'tr[data-event]')) >= 1, `the audit log lists no event`);
    for (const format of ['jsonl', 'csv']) {
      check((await count(page, `a[data-export="${format}"]`)) === 1, `no a[data-export="${format}"]`);
    }
    await numberIn(page, '[data-total]');
    await photograph(page, 'admin-audit');
    const actions = ['admin.user_lock', 'admin.user_unlock', 'admin.user_totp_reset', 'admin.client_create', 'admin.client_secret_rotate'];
    for (const action of actions) {
      const response = await goto(page, `/admin/audit?action=${encodeURIComponent(action)}`);
      await expectPage(page, 'admin-audit', response, { path: '/admin/audit' });
      check((await count(page, `tr[data-event][data-action="${action}"]`)) >= 1, `/admin/audit?action=${action} lists no tr[data-event][data-action="${action}"]`);
      const text = await page.locator('main').innerText();
      check(!text.includes(firstSecret) && !text.includes(secondSecret), `the audit log shows a client secret`);
    }
  });

  await step('Signing keys and Roles pages', async () => {
    await viaNav(page, '/admin/keys', 'admin-keys');
    check((await count(page, 'tr[data-key]')) >= 1, `the keys page lists no tr[data-key]`);
    check((await count(page, 'form[data-form="rotate-keys"]')) === 1, `the keys page has no form[data-form="rotate-keys"]`);
    await photograph(page, 'admin-keys');
    await viaNav(page, '/admin/roles', 'admin-roles');
    for (const role of ['admin', 'user_admin', 'client_admin', 'auditor']) {
      check((await count(page, `tr[data-role="${role}"]`)) === 1, `the roles page has no tr[data-role="${role}"]`);
    }
    await photograph(page, 'admin-roles');
  });

  await step('Dashboard: the stats, the sign-in chart and recent admin actions', async () => {
    await viaNav(page, '/admin', 'admin-dashboard');
    for (const stat of ['users', 'sign-ins-24h', 'failures-24h', 'lockouts-24h']) {
      await numberIn(page, `[data-stat="${stat}"]`);
    }
    // A session store that cannot count its sessions cheaply (Redis) shows "—", marked so.
    if ((await count(page, '[data-stat="active-sessions"][data-uncounted]')) === 0) {
      const sessions = await numberIn(page, '[data-stat="active-sessions"]');
      check(sessions >= 1, `[data-stat="active-sessions"] reads ${sessions} while the admin is signed in`);
    }
    const users = await numberIn(page, '[data-stat="users"]');
    check(users >= 2, `[data-stat="users"] reads ${users}; the admin and ${user.username} exist at least`);
    const signIns = await numberIn(page, '[data-stat="sign-ins-24h"]');
    check(signIns >= 3, `[data-stat="sign-ins-24h"] reads ${signIns}; this run alone signed in at least 3 times`);
    check((await count(page, 'svg[data-chart="sign-ins"]')) >= 1, `no svg[data-chart="sign-ins"]`);
    check((await count(page, 'tr[data-event]')) >= 1, `the dashboard lists no recent admin action (tr[data-event])`);
    await photograph(page, 'admin-dashboard', { phone: true });
  });

  if (REAUTH_WINDOW_SECS > 0) {
    await step(`${REAUTH_WINDOW_SECS} s after signing in, rotating the keys asks to sign in again; after that it goes through`, async () => {
      const wait = adminSignedInAt + (REAUTH_WINDOW_SECS + 2) * 1000 - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await expectPage(page, 'admin-keys', await goto(page, '/admin/keys'), { path: '/admin/keys' });
      const activeKeys = () => page.locator('tr[data-key][data-key-status="active"]').evaluateAll((rows) => rows.map((r) => r.dataset.key).sort().join(' '));
      const before = await activeKeys();
      check(before !== '', `the keys page shows no tr[data-key][data-key-status="active"]`);
      const refused = await submitForm(page, 'form[data-form="rotate-keys"]');
      await expectPage(page, 'admin-reauthenticate', refused, { status: 403 });
      await photograph(page, 'admin-reauthenticate');
      const login = await clickLink(page, 'a[data-action="reauthenticate"]');
      await expectPage(page, 'login', login, { path: '/login' });
      const query = new URL(page.url()).searchParams;
      check(query.get('force') === '1' && query.get('return_to') === '/admin/keys', `the sign-in page was opened as ${page.url()}, expected force=1 and return_to=/admin/keys`);
      const password = await submitForm(page, 'form[action="/login"]', { username: admin.username, password: admin.password });
      const back = await secondFactor(page, adminTotp, password);
      await expectPage(page, 'admin-keys', back, { path: '/admin/keys' });
      check((await activeKeys()) === before, `the refused rotation changed the active keys (${before} -> ${await activeKeys()})`);
      const rotated = await submitForm(page, 'form[data-form="rotate-keys"]');
      await expectPage(page, 'admin-keys', rotated, { path: '/admin/keys' });
      await expectNotice(page, 'the key rotation');
      const after = await activeKeys();
      check(after !== before, `the rotation left the active keys as they were (${before})`);
    });
  }

  await step(`no console page is wider than a phone (${PHONE.width} px): ${measured.length} pages measured`, async () => {
    overflowReported = true;
    check(overflowing.length === 0, `pages wider than the phone viewport:\n  ${overflowing.join('\n  ')}`);
  });
  console.log(`all ${currentStep().number} browser steps passed`);
} catch (err) {
  exitCode = 1;
  const { number, name } = currentStep();
  console.error(`\nFAILED at step ${number}: ${name}`);
  console.error(err instanceof StepFailure ? err.message : err.stack || String(err));
  // Where the browser was, unless only the widths failed (their message says it all).
  if (!overflowReported) {
    if (page) console.error(await describe(page, 'admin'));
    console.error(`last document responses:\n  ${navigations.slice(-15).join('\n  ') || '(none)'}`);
  }
  if (overflowing.length && !overflowReported) console.error(`pages wider than the phone viewport so far:\n  ${overflowing.join('\n  ')}`);
  const errors = [...serverErrors, ...unexpectedBrowserErrors()];
  if (errors.length) console.error(`errors seen:\n  ${errors.join('\n  ')}`);
} finally {
  console.log(`measured at ${PHONE.width} px wide: ${measured.join(', ') || '(none)'}`);
  console.log(`screenshots (${screenshots.length}) in ${shotDir}:${screenshots.map((f) => `\n  ${f.slice(shotDir.length + 1)}`).join('')}`);
  await browser.close();
}
process.exit(exitCode);
