// The Lambda Runtime API (what the worker function polls) and Invoke API (what esm
// calls), for scripts/browser-test: the same control plane as tests/src/lambda.rs,
// `cargo lambda watch` and the runtime interface emulator, so the already-built
// `worker` binary runs unmodified under its real `lambda_runtime` client and no cargo
// process is needed.
//
//   LAMBDA_API_PORT=9001 LAMBDA_FUNCTION_NAME=worker node browser/lambda-api.mjs
//
// Then start the function with AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 and esm with
// ESM_FUNCTION_URL=http://127.0.0.1:9001/2015-03-31/functions/worker/invocations.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.env.LAMBDA_API_PORT ?? 9000);
const functionName = process.env.LAMBDA_FUNCTION_NAME ?? 'worker';
const invokeTimeoutMs = Number(process.env.LAMBDA_INVOKE_TIMEOUT_MS ?? 120_000);
const deadlineMs = Number(process.env.LAMBDA_DEADLINE_MS ?? 60_000);

const pending = []; // invocations not yet handed to the function
const pollers = []; // the function's GET /next requests waiting for an invocation
const waiting = new Map(); // request id → settle(answer) of the Invoke API call

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function hand(invocation, res) {
  res.writeHead(200, {
    'content-type': 'application/json',
    'lambda-runtime-aws-request-id': invocation.id,
    'lambda-runtime-deadline-ms': String(Date.now() + deadlineMs),
    'lambda-runtime-invoked-function-arn': `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
  });
  res.end(invocation.payload);
}

function dispatch() {
  while (pending.length && pollers.length) {
    const res = pollers.shift();
    if (res.destroyed) continue;
    hand(pending.shift(), res);
  }
}

async function invoke(req, res, name) {
  if (name !== functionName) {
    res.writeHead(404).end(`Function not found: ${name}`);
    return;
  }
  const payload = await body(req);
  const id = randomUUID();
  const answer = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      resolve({ timeout: true });
    }, invokeTimeoutMs);
    waiting.set(id, (a) => {
      clearTimeout(timer);
      resolve(a);
    });
    pending.push({ id, payload });
    dispatch();
  });
  if (answer.timeout) {
    res.writeHead(504).end('function timed out');
  } else if (answer.error) {
    res.writeHead(200, { 'x-amz-function-error': 'Unhandled' }).end(answer.body);
  } else {
    res.writeHead(200, { 'content-type': 'application/json' }).end(answer.body);
  }
}

async function answer(req, res, id, error) {
  const payload = await body(req);
  const settle = waiting.get(id);
  if (!settle) {
    res.writeHead(404).end();
    return;
  }
  waiting.delete(id);
  settle({ error, body: payload });
  res.writeHead(202).end();
}

const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  let m;
  if (req.method === 'POST' && (m = path.match(/^\/2015-03-31\/functions\/([^/]+)\/invocations$/))) {
    invoke(req, res, decodeURIComponent(m[1])).catch(() => res.destroy());
  } else if (req.method === 'GET' && path === '/2018-06-01/runtime/invocation/next') {
    pollers.push(res);
    dispatch();
  } else if (req.method === 'POST' && (m = path.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/))) {
    answer(req, res, m[1], m[2] === 'error').catch(() => res.destroy());
  } else if (req.method === 'POST' && path === '/2018-06-01/runtime/init/error') {
    body(req).then((b) => {
      console.error(`function init error: ${b}`);
      res.writeHead(202).end();
    });
  } else {
    res.writeHead(404).end();
  }
});
// GET /next is a long poll: no server-side timeouts.
server.requestTimeout = 0;
server.headersTimeout = 0;
server.keepAliveTimeout = 0;
server.listen(port, '127.0.0.1', () => {
  console.log(`lambda-api: function ${functionName} on 127.0.0.1:${port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
