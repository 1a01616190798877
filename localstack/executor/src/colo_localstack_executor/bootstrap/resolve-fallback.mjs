// ES module resolution hook for the colo host-node bootstrap.
//
// Lambda's Node.js runtimes ship the AWS SDK for JavaScript v3 (bundlers such as the CDK's NodejsFunction
// leave `@aws-sdk/*` out of the bundle for that reason). On the host there is no such runtime folder, so
// bare specifiers that the normal resolution cannot find are retried from the directories listed in
// COLO_NODE_FALLBACK_MODULES (passed here as `data.dirs`; CommonJS uses NODE_PATH for the same folders).

import path from 'node:path';
import { pathToFileURL } from 'node:url';

let dirs = [];

export async function initialize(data) {
  dirs = Array.isArray(data?.dirs) ? data.dirs : [];
}

function isBare(specifier) {
  return !(
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier.startsWith('/') ||
    specifier.startsWith('node:') ||
    specifier.startsWith('data:') ||
    specifier.startsWith('file:')
  );
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw err;
    for (const dir of dirs) {
      // a parent URL inside the fallback folder makes Node search <dir>/node_modules then <dir>/..
      const parentURL = pathToFileURL(path.join(dir, '__colo_fallback_parent__.mjs')).href;
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch {
        // try the next folder
      }
    }
    throw err;
  }
}
