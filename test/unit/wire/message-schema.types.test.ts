/** Type-level test: the schema's inferred types are exactly the protocol's message types (checked by tsc). */
import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type { ClaimCheck, ColoMessage } from '../../../src/engine/protocol/messages.ts';
import type { claimCheckSchema, coloMessageSchema } from '../../../src/wire/message-schema.ts';
import { parseMessage, parseMessageObject, serializeMessage } from '../../../src/wire/message-schema.ts';

describe('message schema types', () => {
  it('infers exactly ColoMessage', () => {
    expectTypeOf<z.infer<typeof coloMessageSchema>>().toEqualTypeOf<ColoMessage>();
    expectTypeOf<z.input<typeof coloMessageSchema>>().toEqualTypeOf<ColoMessage>();
    expectTypeOf<z.infer<typeof claimCheckSchema>>().toEqualTypeOf<ClaimCheck>();
  });

  it('types the API', () => {
    expectTypeOf(parseMessage).toEqualTypeOf<(body: string) => ColoMessage>();
    expectTypeOf(parseMessageObject).toEqualTypeOf<(value: unknown) => ColoMessage>();
    expectTypeOf(serializeMessage).toEqualTypeOf<(m: ColoMessage) => string>();
  });
});
