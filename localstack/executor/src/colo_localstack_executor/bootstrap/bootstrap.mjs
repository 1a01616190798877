// Long-lived Node.js bootstrap for the colo host-node LocalStack runtime executor.
//
// Protocol (all messages are single-line JSON):
//   executor -> bootstrap, on stdin:     {"type":"invoke","requestId","payload","deadlineMs","invokedFunctionArn","traceId"}
//   bootstrap -> executor, on fd COLO_RESULT_FD:
//       {"type":"ready","initMs"}                       handler module loaded
//       {"type":"initError","error":{errorType,errorMessage,trace}}
//       {"type":"result","requestId","payload"}         payload = JSON text of the handler's return value
//       {"type":"error","requestId","error":{errorType,errorMessage,trace},"fatal"?}  (fatal: process exits next)
//   stdout/stderr carry the function's logs (console output is formatted like Lambda's Node runtime).
//   After the init phase and after each invocation a marker line (LOG_MARK + id) is written to stdout so
//   the executor can cut the log stream per invocation.
//
// The handler is named by _HANDLER ("dir/module.export[.nested]") relative to LAMBDA_TASK_ROOT.
// Supports CommonJS (.js / .cjs) and ES modules (.mjs, or .js under a package.json with "type": "module"),
// async handlers and callback-style handlers.

import { existsSync, readFileSync, writeSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';

const LOG_MARK = '\u001ecolo-invocation-done:';
const RESULT_FD = Number(process.env.COLO_RESULT_FD);
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT || process.cwd();
const HANDLER = process.env._HANDLER || '';
const FALLBACK_DIRS = (process.env.COLO_NODE_FALLBACK_MODULES || '').split(path.delimiter).filter(Boolean);
delete process.env.COLO_RESULT_FD;
delete process.env.COLO_NODE_FALLBACK_MODULES;

let currentRequestId;

function send(message) {
  const line = `${JSON.stringify(message)}\n`;
  const buf = Buffer.from(line, 'utf8');
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(RESULT_FD, buf, off, buf.length - off);
    } catch (err) {
      if (err && err.code === 'EAGAIN') continue;
      throw err;
    }
  }
}

function writeLog(text) {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function mark(id) {
  process.stdout.write(`${LOG_MARK}${id}\n`);
}

// --- console formatting like Lambda's Node runtime: "<iso time>\t<request id>\t<LEVEL>\t<message>" ---
function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  for (const [method, level] of Object.entries(levels)) {
    console[method] = (...args) => {
      let message = format(...args);
      if (method === 'trace')
        message = `Trace: ${message}\n${new Error().stack.split('\n').slice(2).join('\n')}`;
      writeLog(`${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\t${level}\t${message}`);
    };
  }
}

// --- error shape like Lambda's: {errorType, errorMessage, trace} ---
function toLambdaError(err, fallbackType) {
  if (err instanceof Error) {
    return {
      errorType: err.name || fallbackType || 'Error',
      errorMessage: err.message ?? '',
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  if (err !== null && typeof err === 'object') {
    let message;
    try {
      message = JSON.stringify(err);
    } catch {
      message = String(err);
    }
    return { errorType: fallbackType || 'object', errorMessage: message, trace: [] };
  }
  return { errorType: fallbackType || typeof err, errorMessage: String(err), trace: [] };
}

function namedError(name, message, cause) {
  const err = new Error(message);
  err.name = name;
  if (cause instanceof Error && cause.stack) err.stack = `${name}: ${message}\n${cause.stack}`;
  return err;
}

// --- optional fallback resolution of bare imports (e.g. @aws-sdk/*, which Lambda provides) ---
function installFallbackResolution() {
  if (FALLBACK_DIRS.length === 0 || typeof register !== 'function') return;
  const hookUrl = new URL('./resolve-fallback.mjs', import.meta.url);
  register(hookUrl, { data: { dirs: FALLBACK_DIRS } });
}

// --- handler loading ---
function splitHandler(spec) {
  const slash = spec.lastIndexOf('/');
  const dir = slash >= 0 ? spec.slice(0, slash) : '';
  const rest = slash >= 0 ? spec.slice(slash + 1) : spec;
  const dot = rest.indexOf('.');
  if (dot <= 0 || dot === rest.length - 1) {
    throw namedError('Runtime.MalformedHandlerName', `Bad handler ${spec}`);
  }
  return { moduleRel: path.join(dir, rest.slice(0, dot)), exportPath: rest.slice(dot + 1).split('.') };
}

function nearestPackageType(file) {
  let dir = path.dirname(file);
  const root = path.parse(dir).root;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        return JSON.parse(readFileSync(pj, 'utf8')).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (dir === root || dir === path.dirname(TASK_ROOT)) return 'commonjs';
    dir = path.dirname(dir);
  }
}

async function loadModule(moduleRel) {
  const base = path.resolve(TASK_ROOT, moduleRel);
  const candidates = ['.js', '.mjs', '.cjs'].map((ext) => base + ext);
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw namedError('Runtime.ImportModuleError', `Error: Cannot find module '${moduleRel}'`);
  }
  const useImport = file.endsWith('.mjs') || (file.endsWith('.js') && nearestPackageType(file) === 'module');
  try {
    if (useImport) return await import(pathToFileURL(file).href);
    const require = createRequire(file);
    try {
      return require(file);
    } catch (err) {
      if (err && err.code === 'ERR_REQUIRE_ESM') return await import(pathToFileURL(file).href);
      throw err;
    }
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw namedError('Runtime.UserCodeSyntaxError', `${err.name}: ${err.message}`, err);
    }
    if (err && (err.code === 'MODULE_NOT_FOUND' || err.code === 'ERR_MODULE_NOT_FOUND')) {
      throw namedError('Runtime.ImportModuleError', `Error: ${err.message}`, err);
    }
    throw err;
  }
}

async function loadHandler() {
  const { moduleRel, exportPath } = splitHandler(HANDLER);
  const mod = await loadModule(moduleRel);
  let fn = mod;
  for (const key of exportPath) fn = fn == null ? undefined : fn[key];
  if (fn === undefined && mod && mod.default && typeof mod.default === 'object') {
    // CommonJS module imported as ESM: exports live on `default`
    fn = mod.default;
    for (const key of exportPath) fn = fn == null ? undefined : fn[key];
  }
  if (typeof fn !== 'function') {
    throw namedError(
      'Runtime.HandlerNotFound',
      `${path.basename(moduleRel)}.${exportPath.join('.')} is undefined or not exported`,
    );
  }
  return fn;
}

// --- invocation ---
function makeContext(req) {
  const env = process.env;
  return {
    awsRequestId: req.requestId,
    invokedFunctionArn: req.invokedFunctionArn,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis: () => Math.max(0, req.deadlineMs - Date.now()),
  };
}

function callHandler(handler, event, context) {
  if (handler.length >= 3) {
    // callback-style handler (still supported by nodejs22.x)
    return new Promise((resolve, reject) => {
      const callback = (err, value) => (err ? reject(err) : resolve(value));
      context.done = callback;
      context.succeed = (value) => resolve(value);
      context.fail = (err) => reject(err);
      try {
        const maybe = handler(event, context, callback);
        if (maybe && typeof maybe.then === 'function') maybe.then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

let handlerFn;
let initError;
let busy = false;

async function invoke(req) {
  currentRequestId = req.requestId;
  if (req.traceId) process.env._X_AMZN_TRACE_ID = req.traceId;
  else delete process.env._X_AMZN_TRACE_ID;
  let message;
  try {
    if (initError) throw initError;
    const event = req.payload === undefined || req.payload === '' ? {} : JSON.parse(req.payload);
    const value = await callHandler(handlerFn, event, makeContext(req));
    let text;
    try {
      text = JSON.stringify(value === undefined ? null : value);
    } catch (err) {
      throw namedError('Runtime.MarshalError', `Unable to stringify response body: ${err.message}`, err);
    }
    message = { type: 'result', requestId: req.requestId, payload: text ?? 'null' };
  } catch (err) {
    const error = toLambdaError(err);
    writeLog(`${new Date().toISOString()}\t${req.requestId}\tERROR\tInvoke Error \t${JSON.stringify(error)}`);
    message = { type: 'error', requestId: req.requestId, error };
  }
  mark(req.requestId);
  currentRequestId = undefined;
  send(message);
}

function fatal(err, kind) {
  // An exception escaped the handler's promise chain: Lambda reports it and restarts the runtime.
  const error = toLambdaError(err, kind);
  writeLog(
    `${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\tERROR\t${kind} \t${JSON.stringify(error)}`,
  );
  if (currentRequestId) {
    mark(currentRequestId);
    send({ type: 'error', requestId: currentRequestId, error, fatal: true });
  }
  process.exit(129);
}

async function main() {
  patchConsole();
  installFallbackResolution();
  const started = Date.now();
  try {
    handlerFn = await loadHandler();
  } catch (err) {
    initError = err instanceof Error ? err : namedError('Runtime.InitError', String(err));
    writeLog(
      `${new Date().toISOString()}\tundefined\tERROR\tInit Error \t${JSON.stringify(toLambdaError(initError))}`,
    );
  }
  process.on('uncaughtException', (err) => fatal(err, 'Uncaught Exception'));
  process.on('unhandledRejection', (reason) => fatal(reason, 'Runtime.UnhandledPromiseRejection'));
  mark('init');
  send(
    initError
      ? { type: 'initError', error: toLambdaError(initError) }
      : { type: 'ready', initMs: Date.now() - started },
  );

  const queue = [];
  const pump = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) await invoke(queue.shift());
    busy = false;
  };
  const rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      return;
    }
    if (req.type === 'invoke') {
      queue.push(req);
      void pump();
    }
  });
  // executor closed stdin: shut down (the executor kills us anyway if we linger)
  rl.on('close', () => process.exit(0));
}

await main();
