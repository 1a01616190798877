/** The system's Chromium (Debian's `chromium` package; `scripts/chromium.sh` installs it), driven by puppeteer-core. */
import { existsSync } from 'node:fs';

/** Where Debian and other distributions put the browser; `CHROMIUM` overrides. */
const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/**
 * The browser binary.
 *
 * @throws Error naming the fix when none is installed (the browser tests need one; they never download one).
 */
export function chromiumPath(): string {
  const path = [process.env.CHROMIUM, ...CANDIDATES].find((p): p is string => !!p && existsSync(p));
  if (!path)
    throw new Error(
      'no Chromium found: run bash scripts/chromium.sh (apt-get install chromium) or set CHROMIUM',
    );
  return path;
}
