// Browser tests: Debian's Chromium, driven by playwright-core, against a running copy
// of the stack (web + worker + esm + SQS + PostgreSQL). scripts/browser-test starts a
// private one and runs this file with BASE_URL and JAEGER_UI_URL set:
//
//   scripts/browser-test                  # build, start, test, stop
//   SKIP_BUILD=1 UPDATE_SCREENSHOTS=1 scripts/browser-test
//
// One browser per run; per test a fresh context (cookies) and page, and a user of its
// own (to-dos belong to the signed-in user), so tests can also run again against the
// same stack (scripts/browser-test --serve). Screenshots for the README go to
// SCREENSHOT_DIR (default browser/screenshots/).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests with scripts/browser-test`);
  return value.replace(/\/+$/, '');
}

const BASE_URL = required('BASE_URL');
const JAEGER_UI_URL = required('JAEGER_UI_URL');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT_DIR =
  process.env.SCREENSHOT_DIR || fileURLToPath(new URL('./screenshots/', import.meta.url));
/** How long one expectation may take (ms). */
const TIMEOUT = Number(process.env.BROWSER_TIMEOUT_MS ?? 15_000);
/** How long the worker may take to finish a job (ms). */
const JOB_TIMEOUT = Number(process.env.JOB_TIMEOUT_MS ?? 20_000);
const HEX32 = /^[0-9a-f]{32}$/;
/** Tells this run's users from those of earlier runs against the same database. */
const RUN = randomBytes(3).toString('hex');

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exactly = (s) => new RegExp(`^\\s*${escapeRe(s)}\\s*$`);
const traceUrl = new RegExp(`^${escapeRe(JAEGER_UI_URL)}/trace/([0-9a-f]{32})$`);
/** Jaeger's comparison of a working trace (A, captured) with a broken one. */
const compareUrl = new RegExp(`^${escapeRe(JAEGER_UI_URL)}/trace/([0-9a-f]{32})\\.\\.\\.([0-9a-f]{32})\\?cohort=\\1&cohort=\\2$`);

let browser;
let context;
let page;

before(async () => {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

beforeEach(async () => {
  context = await browser.newContext({ baseURL: BASE_URL, viewport: { width: 1200, height: 800 } });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
});

afterEach(async () => {
  await context?.close();
});

// ---- helpers -------------------------------------------------------------------

/** Signs this test's browser in as `name` (the session is just the `user` cookie). */
async function signInAs(name) {
  await context.addCookies([{ name: 'user', value: name, url: BASE_URL }]);
}

/** Signs in with the form at /signin. */
async function signInWithForm(name) {
  await page.goto('/signin');
  await page.fill('#name', name);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#current-user', { hasText: exactly(name) }).waitFor();
}

/** The list row whose title is exactly `title`. */
function todoRow(title) {
  return page.locator('#todos li.todo').filter({ has: page.locator('.title', { hasText: exactly(title) }) });
}

/** Types `title` into the add form and presses Add; resolves to the new row. */
async function addTodo(title) {
  await page.fill('#new-title', title);
  await page.locator('form.add-form').getByRole('button', { name: 'Add', exact: true }).click();
  const row = todoRow(title);
  await row.waitFor();
  return row;
}

/** Reloads the list until `check()` holds: the list does not refresh by itself. */
async function reloadUntil(check, what, timeout = JOB_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    await page.goto('/');
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`after ${timeout} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 150)); // polling interval
  }
}

/** The job label of a row, e.g. "enrich: done". */
async function jobLabel(row) {
  return (await row.locator('.job').textContent())?.trim();
}

async function screenshot(name) {
  await page.screenshot({ path: join(SCREENSHOT_DIR, name), fullPage: true });
}

/** Switches a fault with the panel's form at /faults, as a presenter would. */
async function switchFault(name, on, { scope = 'everyone' } = {}) {
  await page.goto('/faults');
  const fault = page.locator(`#fault-${name}`);
  await fault.locator('input[name=enabled]').setChecked(on);
  await fault.locator('select[name=scope]').selectOption(scope);
  await fault.getByRole('button', { name: 'Apply' }).click();
  await page.locator(`#fault-${name} .state`, { hasText: on ? /^ON$/ : /^off$/ }).waitFor();
}

/** Best effort, whatever happened in the test: the fault is off for the next one. */
async function faultOff(name) {
  await context.request.put(`/api/faults/${name}`, { data: { enabled: false, scope: null } });
}

/** The trace of a response, from its W3C traceresponse header: 00-<trace id>-<span id>-<flags>. */
async function traceOf(response) {
  return (await response.headerValue('traceresponse'))?.split('-')[1];
}

/** `user`'s journey as JSON, fetched without a cookie (as a guest): a step of guest's, not of theirs. */
async function journeyOf(user) {
  return (await fetch(`${BASE_URL}/api/journey/${user}`)).json();
}

/**
 * Whether the web app takes this journey step as its route's working example
 * (web/src/insights: `record_request`): it worked (a status below 400), it was not slow
 * (under `SLOW_MS`, 500 ms: the step's `slow` is false) and it was sampled (a trace).
 */
const worked = (step) => step.status < 400 && !step.slow && HEX32.test(step.trace_id ?? '');

/**
 * Makes a request with `act(n)` (n = 1, 2…; resolves to the request's trace) until
 * `user`'s journey shows one that `worked`, and resolves to its trace: what a failed
 * request of the same method and route will be compared with, as long as nobody else
 * makes one that works meanwhile. On a slow machine a request may take 500 ms or more,
 * and then it is not the example: hence the retries, at most `tries`.
 */
async function untilOneWorked(user, act, tries = 5) {
  for (let n = 1; ; n++) {
    const trace = await act(n);
    assert.match(trace ?? '', HEX32, 'the response names its trace (traceresponse)');
    // Recorded before the response left (web/src/observe.rs): no waiting needed.
    const step = (await journeyOf(user)).steps.find((s) => s.trace_id === trace);
    assert.ok(step, `${user}'s journey shows the request of trace ${trace}`);
    if (worked(step)) return trace;
    if (n >= tries) assert.fail(`${tries} requests, none worked fast enough: the last ${JSON.stringify(step)}`);
  }
}

// ---- tests ---------------------------------------------------------------------

test('a. add a to-do: the worker tags it and the row links the trace of the click', async () => {
  const title = 'buy milk #home';
  await signInAs(`a-${RUN}`);
  await page.goto('/');
  const posted = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/todos',
  );
  const row = await addTodo(title);
  // W3C traceresponse: 00-<trace id>-<span id>-<flags>
  const clickTrace = (await (await posted).headerValue('traceresponse'))?.split('-')[1];
  assert.match(clickTrace ?? '', HEX32, 'POST /todos answers with a traceresponse header');

  await reloadUntil(async () => (await jobLabel(row)) === 'enrich: done', `"${title}" reads "enrich: done"`);
  assert.deepEqual((await row.locator('.tag').allTextContents()).sort(), ['#home', '#shopping']);

  const href = await row.getByRole('link', { name: 'trace ↗' }).getAttribute('href');
  const [, linked] = href.match(traceUrl) ?? [];
  assert.ok(linked, `trace link ${href} points at ${JAEGER_UI_URL}/trace/<32 hex>`);
  assert.equal(linked, clickTrace, "the row's trace is the trace of the click that added it");
});

test('b. edit a title: the row shows the new one', async () => {
  await signInAs(`b-${RUN}`);
  await page.goto('/');
  const row = await addTodo('call the plumber');
  const id = await row.getAttribute('id');
  await row.locator('details.edit summary', { hasText: 'Edit' }).click();
  const input = row.locator('details.edit input[name=title]');
  await input.fill('call the plumber about the leak');
  await row.getByRole('button', { name: 'Save' }).click();

  const edited = todoRow('call the plumber about the leak');
  await edited.waitFor();
  assert.equal(await edited.getAttribute('id'), id, 'the same to-do, renamed');
  await todoRow('call the plumber').waitFor({ state: 'detached' });
});

test('c. complete a to-do, then delete it', async () => {
  await signInAs(`c-${RUN}`);
  await page.goto('/');
  const title = 'water the plants';
  const id = await (await addTodo(title)).getAttribute('id');
  const row = page.locator(`#${id}`);

  await row.getByRole('button', { name: 'Mark done' }).click();
  await page.locator(`#${id}.completed`).waitFor();
  await row.getByRole('button', { name: 'Mark open' }).waitFor();

  await row.getByRole('button', { name: `Delete ${title}`, exact: true }).click();
  await row.waitFor({ state: 'detached' });
  const list = await (await context.request.get('/api/todos')).json();
  assert.ok(!list.some((t) => t.title === title), 'the API no longer lists it');
});

test('d. an empty title is refused with a message and adds nothing', async () => {
  await signInAs(`d-${RUN}`);
  await page.goto('/');
  await addTodo('an existing to-do');
  const rows = page.locator('#todos li.todo');
  const before = await rows.count();
  const stored = (await (await context.request.get('/api/todos')).json()).length;

  await page.fill('#new-title', '');
  await page.locator('form.add-form').getByRole('button', { name: 'Add', exact: true }).click();
  await page.locator('#form-error', { hasText: exactly('A to-do needs a title.') }).waitFor();
  assert.equal(await page.locator('#new-title').getAttribute('aria-invalid'), 'true');
  assert.equal(await rows.count(), before, 'no row added');
  assert.equal((await (await context.request.get('/api/todos')).json()).length, stored, 'nothing stored');
});

test('e. fault web_error: a 500 page naming its trace; the panel switches it off again', async () => {
  try {
    // The list working, just before (as a guest, whose journey tells whether it was
    // fast enough to count): the error page will compare with this trace, the latest
    // GET / that worked.
    const workedTrace = await untilOneWorked('guest', async () => {
      const ok = await page.goto('/');
      assert.equal(ok.status(), 200);
      return traceOf(ok);
    });
    await switchFault('web_error', true);
    await screenshot('faults-panel.png');

    const response = await page.goto('/');
    assert.equal(response.status(), 500);
    await page.locator('.error-page h1', { hasText: /^500\b/ }).waitFor();
    const traceId = (await page.locator('code#trace-id').textContent()).trim();
    assert.match(traceId, HEX32);
    const link = page.getByRole('link', { name: /open this trace in Jaeger/ });
    assert.equal(await link.getAttribute('href'), `${JAEGER_UI_URL}/trace/${traceId}`);
    assert.equal((await response.headerValue('traceresponse'))?.split('-')[1], traceId,
      'the page names the trace of its own request');
    // Beside it, the last GET / that worked: this test's own, above.
    const compare = await page.locator('a#compare').getAttribute('href');
    assert.equal(compare, `${JAEGER_UI_URL}/trace/${workedTrace}...${traceId}?cohort=${workedTrace}&cohort=${traceId}`);
    await screenshot('web-error.png');

    // The panel stays usable while every other page fails.
    await switchFault('web_error', false);
    const again = await page.goto('/');
    assert.equal(again.status(), 200);
    await page.locator('#new-title').waitFor();
    await page.locator('.error-page').waitFor({ state: 'detached' });
  } finally {
    await faultOff('web_error');
  }
});

test('f. sign in by name: the header names the user, whose list is their own', async () => {
  // A guest adds a to-do first…
  await page.goto('/');
  await page.getByRole('link', { name: 'Sign in' }).waitFor();
  const guests = `the guest's to-do ${RUN}`;
  await addTodo(guests);

  const name = `grace-${RUN}`;
  await page.goto('/signin');
  await page.fill('#name', name);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('header .user', { hasText: exactly(`Signed in as ${name}`) }).waitFor();
  assert.equal((await page.locator('#current-user').textContent()).trim(), name);
  // …which is not hers.
  await page.locator('#todos li.empty').waitFor();
  assert.equal(await todoRow(guests).count(), 0);
  assert.equal(await page.locator('#todos li.todo').count(), 0);
});

test('g. the list with enriched to-dos (screenshot)', async () => {
  // A user of its own, whose list holds just these (emptied if an earlier run filled it).
  await signInWithForm('ada');
  const rows = page.locator('#todos li.todo');
  for (let n = await rows.count(); n > 0; n--) {
    await rows.first().locator('form.delete button').click();
    await page.locator('#todos li.todo').nth(n - 1).waitFor({ state: 'detached' });
  }

  const todos = [
    { title: 'buy milk and eggs #home', tags: ['#home', '#shopping'] },
    { title: 'fix the login bug asap', tags: ['#code'], priority: 'high' },
    { title: 'reply to the meeting invite', tags: ['#email', '#meeting'] },
    { title: 'learn to juggle someday', tags: [], priority: 'low' },
    { title: 'clean the garage', tags: ['#home'] },
  ];
  for (const { title } of todos) await addTodo(title);
  await todoRow('clean the garage').getByRole('button', { name: 'Mark done' }).click();
  await page.locator('#todos li.todo.completed').waitFor();

  await reloadUntil(async () => {
    const labels = await page.locator('#todos li.todo .job').allTextContents();
    return labels.length === todos.length && labels.every((l) => / done$/.test(l.trim()));
  }, 'every job reads done');
  for (const { title, tags, priority } of todos) {
    const row = todoRow(title);
    assert.deepEqual((await row.locator('.tag').allTextContents()).sort(), tags, `tags of "${title}"`);
    if (priority) assert.equal((await row.locator('.priority').textContent()).trim(), priority, `priority of "${title}"`);
  }
  assert.equal(await jobLabel(todoRow('clean the garage')), 'stats: done');
  await todoRow('clean the garage').locator('.done-in').waitFor();
  await screenshot('todo-list.png');
});

test('h. fault poison_message: the job dies after 3 receives and shows on /dead-letters', async () => {
  const title = 'renew the passport';
  const dlqDepth = async () => {
    await page.goto('/dead-letters');
    const [, n] = (await page.locator('.summary').textContent()).match(/\((\d+) messages? there now\)/) ?? [];
    assert.ok(n !== undefined, 'the page shows the DLQ depth');
    return Number(n);
  };
  try {
    // First an enrich job that works, whatever ran before: the dead one is compared
    // with the latest enrich job that was done (web/src/outbox/store.rs
    // `working_traces`: same kind, state done, sampled, newest updated_at), this one.
    await signInAs(`h-${RUN}`);
    await page.goto('/');
    const fine = await addTodo('book the passport photos');
    await reloadUntil(async () => (await jobLabel(fine)) === 'enrich: done', 'the first to-do reads "enrich: done"');
    const fineHref = await fine.getByRole('link', { name: 'trace ↗' }).getAttribute('href');
    const [, workedJob] = fineHref.match(traceUrl) ?? [];
    assert.match(workedJob ?? '', HEX32, fineHref);

    const depthBefore = await dlqDepth();
    // Scoped to this browser: the cookie travels to the worker as baggage.
    await switchFault('poison_message', true, { scope: 'me' });
    await page.goto('/');
    const row = await addTodo(title);
    const trace = await row.getByRole('link', { name: 'trace ↗' }).getAttribute('href');
    await reloadUntil(async () => /^enrich: dead/.test(await jobLabel(row)),
      `"${title}" reads "enrich: dead"`, 60_000);
    await faultOff('poison_message');

    // The dead letter, found by the trace of the click that made it.
    await page.goto('/dead-letters');
    const dead = page.locator('#dead-letters li.todo').filter({ has: page.locator(`a[href="${trace}"]`) });
    await dead.waitFor();
    assert.equal((await dead.locator('.title').textContent()).trim(), `enrich_todo: ${title}`);
    assert.equal((await dead.locator('.job-dead').textContent()).trim(), 'dead after 3 receives');
    await dead.getByRole('button', { name: 'Redrive' }).waitFor();
    // Compared with the latest enrich job that was done: this test's first one.
    const compare = await dead.getByRole('link', { name: /compare with a working one/ }).getAttribute('href');
    const [, working, broken] = compare.match(compareUrl) ?? [];
    assert.equal(`${JAEGER_UI_URL}/trace/${broken}`, trace, `B is the dead job's trace: ${compare}`);
    assert.equal(working, workedJob, `A is the job of the first to-do: ${compare}`);
    // SQS moves the message at the receive after the third: then the page counts it
    // (at least it: on a stack reused from an earlier run, others may arrive too).
    const deadline = Date.now() + 30_000;
    while ((await dlqDepth()) < depthBefore + 1) {
      if (Date.now() > deadline) assert.fail(`the DLQ holds more than the ${depthBefore} message(s) it held before`);
      await new Promise((r) => setTimeout(r, 250)); // polling interval
    }
    // The page as anyone sees it (not signed in as this run's throwaway user).
    await context.clearCookies();
    await page.goto('/dead-letters');
    await dead.waitFor();
    await screenshot('dead-letters.png');
  } finally {
    await faultOff('poison_message');
  }
});

test('i. a user\'s journey: their clicks in order, the jobs they caused, an error compared; insights count it', async () => {
  const name = `i-${RUN}`;
  await signInWithForm(name);
  const title = 'water the plants #home';
  // Her failed add below is compared with her add here if that one counts as working
  // (it took under 500 ms): on a slow machine, she adds again until one does.
  let row;
  let adds = 0;
  const fastAdd = await untilOneWorked(name, async (n) => {
    adds = n;
    const posted = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/todos',
    );
    const added = await addTodo(n === 1 ? title : `water the plants, take ${n}`);
    row ??= added;
    return traceOf(await posted);
  });
  // Wait for the worker through the JSON API, as a guest: reloading her list would
  // fill her journey (its last 50 requests) with GET /.
  const deadline = Date.now() + JOB_TIMEOUT;
  for (;;) {
    const journey = await journeyOf(name);
    if (journey.steps[1]?.jobs[0]?.state === 'done') break;
    if (Date.now() > deadline) assert.fail(`the add's job is not done: ${JSON.stringify(journey)}`);
    await new Promise((r) => setTimeout(r, 150)); // polling interval
  }
  await page.goto('/');
  await row.getByRole('button', { name: 'Mark done' }).click();
  await page.locator('#todos li.todo.completed').waitFor();
  // A click that fails (the magic word answers 503): its page leads to the journey.
  await page.fill('#new-title', 'httpstat 503');
  await page.locator('form.add-form').getByRole('button', { name: 'Add', exact: true }).click();
  await page.locator('.error-page h1', { hasText: /^503\b/ }).waitFor();
  const failedTrace = (await page.locator('code#trace-id').textContent()).trim();
  await page.locator('a#journey-link').click();
  await page.locator('h1', { hasText: exactly(`${name}'s journey`) }).waitFor();

  const steps = page.locator('#journey tr.step');
  const requests = (await steps.locator('.request').allTextContents()).map((t) => t.trim());
  // Signing in was a guest's click; from then on, hers, in order.
  assert.deepEqual(requests.slice(0, 2), ['GET /', 'POST /todos'], requests.join(' | '));
  assert.ok(requests.includes('POST /todos/{id}/completed'), requests.join(' | '));
  const add = steps.nth(1);
  assert.match((await add.locator('.jobs').textContent()).trim(), new RegExp(`enrich_todo “${escapeRe(title)}”: done`));
  const failed = page.locator(`#journey tr.step.failed[data-trace-id="${failedTrace}"]`);
  assert.equal((await failed.locator('.status').textContent()).trim(), '503');
  const compare = await failed.getByRole('link', { name: /compare with a working one/ }).getAttribute('href');
  const [, working, broken] = compare.match(compareUrl) ?? [];
  assert.equal(broken, failedTrace);
  // A is the latest POST /todos before it that worked and was not slow (nobody else
  // added since): her fast add above.
  const { steps: taken } = await journeyOf(name);
  const at = taken.findIndex((s) => s.trace_id === failedTrace);
  assert.ok(at > 0 && taken[at].failed, `her journey shows the failed add: ${JSON.stringify(taken)}`);
  const expected = taken
    .slice(0, at)
    .findLast((s) => s.method === taken[at].method && s.route === taken[at].route && worked(s))?.trace_id;
  assert.equal(expected, fastAdd, `her latest add that worked is the fast one: ${JSON.stringify(taken)}`);
  assert.equal(working, expected, `A is her latest add that worked: ${compare}`);
  const search = await page.locator('a#jaeger-user-search').getAttribute('href');
  assert.equal(new URL(search).searchParams.get('tags'), JSON.stringify({ 'enduser.id': name }));
  await screenshot('journey.png');

  await page.getByRole('link', { name: 'Insights', exact: true }).click();
  const mine = page.locator(`#insights tr#user-${name}`);
  await mine.waitFor();
  assert.equal((await mine.locator('td.created').textContent()).trim(), String(adds));
  assert.equal((await mine.locator('td.completed').textContent()).trim(), '1');
  assert.match((await mine.locator('td.time-to-done').textContent()).trim(), /^\d+s$/);
  assert.equal(await mine.getAttribute('class'), 'cursed', 'she hit an error this hour');
  assert.ok(Number(await page.locator('#users-with-errors').textContent()) >= 1);
  await mine.getByRole('link', { name }).waitFor();
  await screenshot('insights.png');
});

test('j. attach a file: listed with its checksum once the worker read it; its trace and its object name the upload', async () => {
  await signInAs(`j-${RUN}`);
  await page.goto('/');
  const row = await addTodo('file the receipts');
  await row.locator('details.attach summary').click();
  await row.locator('details.attach input[type=file]').setInputFiles({
    name: 'receipts.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('lunch 12.50\ntaxi 30\n'),
  });
  const posted = page.waitForResponse(
    (r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/attachments'),
  );
  await row.getByRole('button', { name: 'Upload', exact: true }).click();
  const uploadTrace = (await (await posted).headerValue('traceresponse'))?.split('-')[1];
  assert.match(uploadTrace ?? '', HEX32, 'the upload answers with a traceresponse header');

  const file = row.locator('.files li.file', { has: page.locator('a.name', { hasText: exactly('receipts.txt') }) });
  await reloadUntil(async () => (await file.locator('code.sha256').count()) === 1,
    'the file shows its checksum (the worker read it back)');
  assert.match((await file.locator('code.sha256').textContent()).trim(), /^[0-9a-f]{12}$/);
  assert.equal((await file.locator('q.preview').textContent()).trim(), 'lunch 12.50');
  const storedBy = await file.getByRole('link', { name: 'stored by ↗' }).getAttribute('href');
  assert.equal(storedBy, `${JAEGER_UI_URL}/trace/${uploadTrace}`, "the file's link is the upload's trace");
  await screenshot('attachments.png');

  // The object itself says the same (HeadObject), on the lookup page.
  await file.getByRole('link', { name: 'ask the object' }).click();
  await page.locator('#stored-by').waitFor();
  assert.equal(await page.locator('a#stored-trace').getAttribute('href'), `${JAEGER_UI_URL}/trace/${uploadTrace}`);
  assert.equal((await page.locator('#stored-by dd').nth(2).textContent()).trim(), `j-${RUN}`);
});
