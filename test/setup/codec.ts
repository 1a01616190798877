/**
 * Installs the wire package's codec for tests that step the engine directly (the runtimes install it
 * themselves): vitest `setupFiles`.
 */
import { installCodec } from '../../src/engine/codec.ts';
import { WIRE_CODEC } from '../../src/wire/engine-codec.ts';

installCodec(WIRE_CODEC);
