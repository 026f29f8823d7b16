// Real-browser end-to-end test (headless Chromium through playwright-core) of self-service
// sign-up, the email verification link, the password change on /account and the password reset
// by mail, against a running `gatehouse` whose mail goes over SMTP to smtp_sink.mjs.
// The page contract (URLs, field names, data-page markers) is that of the account/email feature.
//
// usage: node signup_reset.mjs BASE_URL MAIL_DIR
//   BASE_URL  the server's issuer, e.g. http://127.0.0.1:8080 (links in mails must start with it)
//   MAIL_DIR  where smtp_sink.mjs stores received mails (NNNN.json)
// Environment: CHROMIUM (default /usr/bin/chromium), BROWSER_TIMEOUT_MS (page waits, default
// 5000), MAIL_TIMEOUT_MS (mail waits, default 15000).
// Exits 0 when every step passed, 1 with "FAILED at step ..." and diagnostics otherwise.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, mailDir] = process.argv.slice(2);
if (!base || !mailDir) {
  console.error('usage: node signup_reset.mjs BASE_URL MAIL_DIR');
  process.exit(2);
}
const PAGE_TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS || 5000);
const MAIL_TIMEOUT = Number(process.env.MAIL_TIMEOUT_MS || 15000);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// One user per run (the backend is a scratch one anyway); passwords meet the 12-character rule
// and share nothing with the username or address.
const suffix = `${process.pid}${Date.now() % 100000}`;
const user = {
  username: `browser.user${suffix}`,
  email: `browser.user${suffix}@example.com`,
};
const PASSWORD_SIGNUP = 'amber lantern quietly 8841';
const PASSWORD_CHANGED = 'violet harbour drifting 2207';
const PASSWORD_RESET = 'copper meadow whistle 5530';

class StepFailure extends Error {}
function fail(message) {
  throw new StepFailure(message);
}
function check(condition, message) {
  if (!condition) fail(message);
}

// ---------------------------------------------------------------------------------------------
// Mail: the sink's NNNN.json records. Each mail is used at most once, so a later wait for the
// same subject cannot be satisfied by an earlier mail.
const usedMails = new Set();
function readMails() {
  let names;
  try {
    names = readdirSync(mailDir).filter((n) => /^\d+\.json$/.test(n)).sort();
  } catch {
    return [];
  }
  return names.map((n) => ({ file: n, ...JSON.parse(readFileSync(join(mailDir, n), 'utf8')) }));
}

async function waitForMail(subject, to) {
  const deadline = Date.now() + MAIL_TIMEOUT;
  for (;;) {
    const mail = readMails().find(
      (m) =>
        !usedMails.has(m.file) &&
        m.subject === subject &&
        (m.envelopeTo.includes(to) || m.to.includes(to)),
    );
    if (mail) {
      usedMails.add(mail.file);
      return mail;
    }
    if (Date.now() > deadline) {
      const seen = readMails().map((m) => `  ${m.file}: to ${m.envelopeTo.join(',')}: "${m.subject}"`);
      fail(
        `no mail "${subject}" to ${to} within ${MAIL_TIMEOUT} ms; ` +
          (seen.length ? `the sink holds:\n${seen.join('\n')}` : 'the sink holds no mail at all'),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// The absolute link BASE/PATH?token=... from the text part of a mail.
function linkIn(mail, path) {
  const pattern = new RegExp(`${escapeRegExp(base)}${escapeRegExp(path)}\\?token=[^\\s"'<>]+`);
  const found = mail.text.match(pattern);
  check(found, `mail "${mail.subject}" (${mail.file}) has no link ${base}${path}?token=...; its text:\n${mail.text}`);
  return found[0];
}

// ---------------------------------------------------------------------------------------------
// Browser helpers. Every top-level document response is recorded, for the failure report.
const navigations = [];
function record(page) {
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      navigations.push(`${request.method()} ${response.url()} -> ${response.status()}`);
    }
  });
}

// Navigates (or runs an action that navigates) and returns the final document response.
async function navigate(page, action) {
  const [response] = await Promise.all([
    page.waitForNavigation({ timeout: PAGE_TIMEOUT, waitUntil: 'load' }),
    action(),
  ]);
  return response;
}

async function goto(page, path) {
  return page.goto(new URL(path, base).toString(), { timeout: PAGE_TIMEOUT, waitUntil: 'load' });
}

async function expectPage(page, name, { status, path } = {}, response) {
  try {
    await page.locator(`[data-page="${name}"]`).first().waitFor({ state: 'attached', timeout: PAGE_TIMEOUT });
  } catch {
    const shown = await page.locator('[data-page]').evaluateAll((els) => els.map((e) => e.dataset.page));
    fail(
      `expected data-page="${name}" at ${page.url()}, got ${shown.length ? shown.map((s) => `"${s}"`).join(', ') : 'no data-page'}` +
        (response ? ` (HTTP ${response.status()})` : ''),
    );
  }
  if (status !== undefined) {
    check(response, `no HTTP response recorded for data-page="${name}"`);
    check(response.status() === status, `data-page="${name}" answered HTTP ${response.status()}, expected ${status}`);
  }
  if (path !== undefined) {
    const actual = new URL(page.url()).pathname;
    check(actual === path, `data-page="${name}" is at ${page.url()}, expected path ${path}`);
  }
}

async function expectAttr(page, selector, attribute, expected) {
  const locator = page.locator(selector).first();
  try {
    await locator.waitFor({ state: 'attached', timeout: PAGE_TIMEOUT });
  } catch {
    fail(`no element ${selector} at ${page.url()}`);
  }
  const actual = await locator.getAttribute(attribute);
  check(actual === expected, `${selector} has ${attribute}="${actual}" at ${page.url()}, expected "${expected}"`);
}

// Fills the named inputs of FORM and submits it with its submit button; returns the response.
async function submitForm(page, formSelector, fields) {
  const form = page.locator(formSelector);
  const count = await form.count();
  check(count === 1, `expected one form ${formSelector} at ${page.url()}, found ${count}`);
  for (const [name, value] of Object.entries(fields)) {
    const input = form.locator(`[name="${name}"]`);
    check((await input.count()) === 1, `form ${formSelector} at ${page.url()} has no single input name="${name}"`);
    await input.fill(value, { timeout: PAGE_TIMEOUT });
  }
  const button = form.locator('button[type="submit"], input[type="submit"], button:not([type])').first();
  check((await button.count()) === 1, `form ${formSelector} at ${page.url()} has no submit button`);
  return navigate(page, () => button.click({ timeout: PAGE_TIMEOUT }));
}

async function signIn(page, login, password) {
  const response = await goto(page, '/login');
  await expectPage(page, 'login', { status: 200 }, response);
  return submitForm(page, 'form[action="/login"]', { username: login, password });
}

// ---------------------------------------------------------------------------------------------
let currentStep = '(start)';
let stepNumber = 0;
async function step(name, fn) {
  currentStep = name;
  stepNumber += 1;
  const started = Date.now();
  await fn();
  console.log(`ok ${stepNumber} - ${name} (${Date.now() - started} ms)`);
}

const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
let page;
let exitCode = 0;
try {
  const context = await browser.newContext();
  page = await context.newPage();
  record(page);

  await step('/login links to /register ("Create an account", data-link="register")', async () => {
    const response = await goto(page, '/login');
    await expectPage(page, 'login', { status: 200 }, response);
    const link = page.locator('a[data-link="register"]');
    check((await link.count()) === 1, `/login has no single a[data-link="register"]`);
    const href = await link.getAttribute('href');
    check(href && href.startsWith('/register'), `the register link points to "${href}", not /register...`);
    const linkResponse = await navigate(page, () => link.click({ timeout: PAGE_TIMEOUT }));
    await expectPage(page, 'register', { status: 200, path: '/register' }, linkResponse);
  });

  await step(`sign up as ${user.username} <${user.email}> -> signed in on /account, email not verified`, async () => {
    const response = await submitForm(page, '[data-page="register"] form:has([name="password"])', {
      username: user.username,
      email: user.email,
      password: PASSWORD_SIGNUP,
    });
    await expectPage(page, 'account', { status: 200, path: '/account' }, response);
    const shown = (await page.locator('#username').first().textContent({ timeout: PAGE_TIMEOUT }))?.trim();
    check(shown === user.username, `/account shows the user "${shown}", expected "${user.username}"`);
    await expectAttr(page, '[data-email-verified]', 'data-email-verified', 'false');
  });

  let verifyLink;
  await step('the verification mail arrives over SMTP with a link and a code', async () => {
    const mail = await waitForMail('Verify your email address', user.email);
    verifyLink = linkIn(mail, '/email/verify');
    check(/^Code: \d{6}$/m.test(mail.text), `the verification mail has no "Code: NNNNNN" line; its text:\n${mail.text}`);
  });

  await step('the verification link verifies the address (data-page="email-verified")', async () => {
    const response = await page.goto(verifyLink, { timeout: PAGE_TIMEOUT, waitUntil: 'load' });
    await expectPage(page, 'email-verified', { status: 200 }, response);
  });

  await step('the same link again says already verified (data-page="email-already-verified")', async () => {
    const response = await page.goto(verifyLink, { timeout: PAGE_TIMEOUT, waitUntil: 'load' });
    await expectPage(page, 'email-already-verified', { status: 200 }, response);
  });

  await step('/account now shows data-email-verified="true"', async () => {
    const response = await goto(page, '/account');
    await expectPage(page, 'account', { status: 200, path: '/account' }, response);
    await expectAttr(page, '[data-email-verified]', 'data-email-verified', 'true');
  });

  await step('change the password on /account -> data-notice="password-changed"', async () => {
    const response = await submitForm(page, 'form:has([name="current_password"])', {
      current_password: PASSWORD_SIGNUP,
      new_password: PASSWORD_CHANGED,
    });
    await expectPage(page, 'account', { status: 200, path: '/account' }, response);
    try {
      await page.locator('[data-notice="password-changed"]').first().waitFor({ state: 'visible', timeout: PAGE_TIMEOUT });
    } catch {
      fail(`no visible data-notice="password-changed" at ${page.url()}`);
    }
  });

  await step('the "Your password was changed" mail arrives', async () => {
    await waitForMail('Your password was changed', user.email);
  });

  await step('sign out (the /account sign-out form) -> /login, /account no longer open', async () => {
    const response = await submitForm(page, 'form[action="/logout"]', {});
    await expectPage(page, 'login', { status: 200, path: '/login' }, response);
    const accountResponse = await goto(page, '/account');
    await expectPage(page, 'login', { status: 200, path: '/login' }, accountResponse);
  });

  await step('/password/forgot with the address -> data-page="password-forgot-sent"', async () => {
    const response = await goto(page, '/password/forgot');
    await expectPage(page, 'password-forgot', { status: 200 }, response);
    const sent = await submitForm(page, '[data-page="password-forgot"] form:has([name="email"])', { email: user.email });
    await expectPage(page, 'password-forgot-sent', { status: 200 }, sent);
  });

  let resetLink;
  await step('the "Reset your password" mail arrives with a /password/reset link', async () => {
    const mail = await waitForMail('Reset your password', user.email);
    resetLink = linkIn(mail, '/password/reset');
  });

  await step('the reset link opens data-page="password-reset"; a new password -> "password-reset-done"', async () => {
    const response = await page.goto(resetLink, { timeout: PAGE_TIMEOUT, waitUntil: 'load' });
    await expectPage(page, 'password-reset', { status: 200 }, response);
    const done = await submitForm(page, '[data-page="password-reset"] form:has([name="new_password"])', { new_password: PASSWORD_RESET });
    await expectPage(page, 'password-reset-done', { status: 200 }, done);
  });

  await step('sign in on /login with the new password -> /account', async () => {
    const response = await signIn(page, user.username, PASSWORD_RESET);
    await expectPage(page, 'account', { status: 200, path: '/account' }, response);
    const shown = (await page.locator('#username').first().textContent({ timeout: PAGE_TIMEOUT }))?.trim();
    check(shown === user.username, `/account shows the user "${shown}", expected "${user.username}"`);
  });

  await step('the passwords before the reset no longer sign in (fresh browser context)', async () => {
    const fresh = await browser.newContext();
    const other = await fresh.newPage();
    record(other);
    for (const [what, password] of [
      ['the password set on /account', PASSWORD_CHANGED],
      ['the sign-up password', PASSWORD_SIGNUP],
    ]) {
      const response = await signIn(other, user.email, password);
      const path = new URL(other.url()).pathname;
      check(path !== '/account', `${what} still signs in (landed on ${other.url()})`);
      try {
        await expectPage(other, 'login', {}, response);
      } catch (err) {
        fail(`${what}: ${err.message}`);
      }
      check(
        response.status() >= 400 && response.status() < 500,
        `${what}: the failed sign-in answered HTTP ${response.status()}, expected a 4xx`,
      );
      check(
        (await other.locator('[role="alert"]').count()) > 0,
        `${what}: the sign-in page shows no error (role="alert")`,
      );
    }
    await fresh.close();
  });

  console.log(`all ${stepNumber} browser steps passed`);
} catch (err) {
  exitCode = 1;
  console.error(`\nFAILED at step ${stepNumber}: ${currentStep}`);
  console.error(err instanceof StepFailure ? err.message : err.stack || String(err));
  if (page) {
    console.error(`browser at: ${page.url()}`);
    try {
      const text = (await page.locator('body').innerText({ timeout: 1000 })).trim();
      console.error(`page text (first 1500 characters):\n${text.slice(0, 1500)}`);
    } catch {
      /* no page to show */
    }
  }
  console.error(`last document responses:\n  ${navigations.slice(-12).join('\n  ') || '(none)'}`);
  const mails = readMails().map((m) => `  ${m.file}: to ${m.envelopeTo.join(',')}: "${m.subject}"`);
  console.error(`mails in the sink:\n${mails.join('\n') || '  (none)'}`);
} finally {
  await browser.close();
}
process.exit(exitCode);
