/** Readable zod errors for the runtime's messages. */
import { z } from 'zod';

/** A zod error as one readable paragraph (zod's prettified issues, lines joined). */
export function prettify(error: z.ZodError): string {
  return z.prettifyError(error).replace(/\n\s*/g, ' ');
}
