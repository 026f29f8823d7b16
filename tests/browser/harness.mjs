// What the browser tests share: numbered steps that fail with a message naming the step, a watch
// on every page (document responses, HTTP 5xx, console errors, uncaught page errors), and page
// helpers that check the page contract's `data-page` markers and submit forms as a person does.
// Call configure() first.

export class StepFailure extends Error {}
export function fail(message) {
  throw new StepFailure(message);
}
export function check(condition, message) {
  if (!condition) fail(message);
}

let base = '';
let timeout = 10000;
export function configure(options) {
  base = options.base;
  timeout = options.timeout ?? timeout;
}

// ---------------------------------------------------------------------------------------------
// Steps and what the pages report. A 4xx document that a step expects (a 403 page, the 401 of a
// refused sign-in) makes Chromium log "Failed to load resource", which is no fault: expectPage()
// allows the URL of each 4xx it was told to expect (allow4xx). So does the 404 of the
// /favicon.ico that Chromium asks for by itself (the pages name no icon): the browser's request,
// not the page's.
export const navigations = [];
export const serverErrors = [];
const browserErrors = [];
const expected4xx = new Set(['/favicon.ico']);
let current = { number: 0, name: '(start)' };

export function currentStep() {
  return current;
}

export function allow4xx(url) {
  expected4xx.add(url);
}

// Counts htmx requests in the page (see settleHtmx), from before any of its scripts run.
function trackHtmx() {
  window.__ghHtmx = { pending: 0, last: 0 };
  const note = (delta) => () => {
    window.__ghHtmx.pending = Math.max(0, window.__ghHtmx.pending + delta);
    window.__ghHtmx.last = Date.now();
  };
  document.addEventListener('htmx:beforeRequest', note(1));
  document.addEventListener('htmx:afterRequest', note(-1));
  document.addEventListener('htmx:afterSettle', note(0));
}

export async function watch(page, label) {
  await page.addInitScript(trackHtmx);
  page.on('response', (response) => {
    const request = response.request();
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) {
      navigations.push(`[${label}] ${request.method()} ${response.url()} -> ${response.status()}`);
    }
    if (response.status() >= 500) {
      serverError(`[${label}] ${request.method()} ${response.url()} -> HTTP ${response.status()}`);
    }
  });
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const url = message.location()?.url || '';
    const status = message.text().match(/status of (\d{3})/);
    browserErrors.push({
      text: `[${label}] console error at ${url || page.url()}: ${message.text()} (step ${current.number}: ${current.name})`,
      // A 4xx logged for a URL, which a step may expect (checked when the step ends: the
      // message comes before the step has looked at the page).
      url: status && Number(status[1]) < 500 ? url : undefined,
    });
  });
  page.on('pageerror', (error) => {
    browserErrors.push({ text: `[${label}] page error at ${page.url()}: ${error.message} (step ${current.number}: ${current.name})` });
  });
}

function expected(error) {
  if (error.url === undefined) return false;
  return expected4xx.has(error.url) || expected4xx.has(URL.parse(error.url)?.pathname);
}

// The errors seen so far that no step expected.
export function unexpectedBrowserErrors() {
  return browserErrors.filter((error) => !expected(error)).map((error) => error.text);
}

export function serverError(what) {
  serverErrors.push(`${what} (step ${current.number}: ${current.name})`);
}

function assertNoErrors() {
  check(serverErrors.length === 0, `HTTP 5xx seen:\n  ${serverErrors.join('\n  ')}`);
  const errors = unexpectedBrowserErrors();
  check(errors.length === 0, `errors in the browser:\n  ${errors.join('\n  ')}`);
}

export async function step(name, fn) {
  current = { number: current.number + 1, name };
  const started = Date.now();
  const result = await fn();
  // Console messages of the step's last page may arrive just after its load event.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertNoErrors();
  console.log(`ok ${current.number} - ${name} (${Date.now() - started} ms)`);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Pages.

// Runs ACTION (a click that navigates) and returns the final document response.
export async function navigate(page, action) {
  const [response] = await Promise.all([page.waitForNavigation({ timeout, waitUntil: 'load' }), action()]);
  return response;
}

export async function goto(page, path) {
  return page.goto(new URL(path, base).toString(), { timeout, waitUntil: 'load' });
}

// The page shows data-page=NAME (on <main> for the console's pages, whose names start with
// "admin"), answered with STATUS (default 200; an expected 4xx is allowed in the console), at PATH.
export async function expectPage(page, name, response, { status = 200, path } = {}) {
  const selector = name.startsWith('admin') ? `main[data-page="${name}"]` : `[data-page="${name}"]`;
  try {
    await page.locator(selector).first().waitFor({ state: 'attached', timeout });
  } catch {
    const shown = await page
      .locator('[data-page]')
      .evaluateAll((els) => els.map((e) => `${e.tagName.toLowerCase()}[data-page="${e.dataset.page}"]`));
    fail(
      `expected ${selector} at ${page.url()}, got ${shown.length ? shown.join(', ') : 'no data-page'}` +
        (response ? ` (HTTP ${response.status()})` : ''),
    );
  }
  check(response, `no HTTP response recorded for ${selector}`);
  check(response.status() === status, `${selector} at ${page.url()} answered HTTP ${response.status()}, expected ${status}`);
  if (status >= 400) allow4xx(response.url());
  if (path !== undefined) {
    const actual = new URL(page.url()).pathname;
    check(actual === path, `${selector} is at ${page.url()}, expected path ${path}`);
  }
}

// The one element SELECTOR (waits for it to be attached).
export async function one(page, selector) {
  const locator = page.locator(selector);
  try {
    await locator.first().waitFor({ state: 'attached', timeout });
  } catch {
    fail(`no element ${selector} at ${page.url()}`);
  }
  const count = await locator.count();
  check(count === 1, `expected one ${selector} at ${page.url()}, found ${count}`);
  return locator;
}

// The trimmed text of the one element SELECTOR, or its value for a form field.
export async function textOf(page, selector) {
  const locator = await one(page, selector);
  const text = await locator.evaluate((el) =>
    ['INPUT', 'TEXTAREA', 'OUTPUT'].includes(el.tagName) ? el.value : el.textContent,
  );
  return (text || '').trim();
}

export async function expectText(page, selector, expected) {
  const actual = await textOf(page, selector);
  check(actual === expected, `${selector} at ${page.url()} reads "${actual}", expected "${expected}"`);
}

// The text of the one-time notice that confirms an action.
export async function expectNotice(page, what) {
  const notice = page.locator('[data-notice]');
  check((await notice.count()) > 0, `no [data-notice] confirming ${what} at ${page.url()}`);
  return (await notice.first().innerText()).trim();
}

// Fills FORM's fields and submits it with its submit button; returns the document response.
// Text fields are filled; for checkboxes the value is the array of values to check (the others
// are cleared); radios and selects take the value to choose.
//
// A form that htmx submits (hx-get / hx-post on it, or hx-boost around it) swaps part of the page
// instead of loading a new one: the response returned is then that of htmx's request, and the
// page is left settled (no htmx request in flight, none for QUIET_MS, so that a request that
// typing triggered after a delay has come and gone too).
export async function submitForm(page, formSelector, fields = {}) {
  const form = await one(page, formSelector);
  // Without JavaScript (or before htmx loaded) the form is an ordinary one.
  const byHtmx = await form.evaluate(
    (el) =>
      typeof window.htmx !== 'undefined' &&
      (el.matches('[hx-get],[hx-post],[hx-put],[hx-patch],[hx-delete]') || el.closest('[hx-boost="true"]') !== null),
  );
  for (const [name, value] of Object.entries(fields)) {
    const inputs = form.locator(`[name="${name}"]`);
    const count = await inputs.count();
    check(count > 0, `form ${formSelector} at ${page.url()} has no field name="${name}"`);
    const kind = await inputs.first().evaluate((el) => (el.tagName === 'SELECT' ? 'select' : el.type));
    if (kind === 'checkbox' || kind === 'radio') {
      const wanted = Array.isArray(value) ? value : [value];
      const values = await inputs.evaluateAll((els) => els.map((el) => el.value));
      for (const v of wanted) {
        check(values.includes(v), `form ${formSelector} has no ${kind} ${name}=${v} (it has: ${values.join(', ')})`);
      }
      for (let i = 0; i < count; i += 1) {
        const on = wanted.includes(values[i]);
        if (kind === 'radio' && !on) continue;
        await inputs.nth(i).setChecked(on, { timeout });
      }
    } else if (kind === 'select') {
      check(count === 1, `form ${formSelector} has ${count} selects name="${name}"`);
      const options = await inputs.first().locator('option').evaluateAll((els) => els.map((el) => el.value));
      check(options.includes(value), `select ${name} of ${formSelector} has no option "${value}" (it has: ${options.join(', ')})`);
      await inputs.first().selectOption(value, { timeout });
    } else {
      check(count === 1, `form ${formSelector} at ${page.url()} has ${count} fields name="${name}"`);
      await inputs.first().fill(value, { timeout });
    }
  }
  const button = form.locator('button[type="submit"], input[type="submit"], button:not([type])').first();
  check((await button.count()) === 1, `form ${formSelector} at ${page.url()} has no submit button`);
  if (!byHtmx) return navigate(page, () => button.click({ timeout }));
  await settleHtmx(page, true);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().headers()['hx-request'] === 'true', { timeout }),
    button.click({ timeout }),
  ]);
  await settleHtmx(page, false);
  return response;
}

const QUIET_MS = 500;

// Waits until htmx has no request in flight and has had none for QUIET_MS. After typing, the
// quiet period starts now (a delayed trigger has not fired yet).
async function settleHtmx(page, typed) {
  if (typed) await page.evaluate(() => window.__ghHtmx && (window.__ghHtmx.last = Date.now()));
  try {
    await page.waitForFunction(
      (quiet) => window.__ghHtmx && window.__ghHtmx.pending === 0 && Date.now() - window.__ghHtmx.last > quiet,
      QUIET_MS,
      { timeout, polling: 100 },
    );
  } catch {
    fail(`htmx did not settle within ${timeout} ms at ${page.url()}`);
  }
}

export async function clickLink(page, selector) {
  const link = await one(page, selector);
  return navigate(page, () => link.click({ timeout }));
}

// What a failure report shows of a page: where it is and the start of its text.
export async function describe(page, label) {
  const lines = [`${label} browser at: ${page.url()}`];
  try {
    const text = (await page.locator('body').innerText({ timeout: 1000 })).trim();
    lines.push(`page text (first 1500 characters):\n${text.slice(0, 1500)}`);
  } catch {
    /* no page to show */
  }
  return lines.join('\n');
}
