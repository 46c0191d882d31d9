import type { Context } from 'koa';
import { invalidRequest } from './errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;
const MAX_DRAIN_BYTES = 1024 * 1024;

async function readBody(ctx: Context, type: string): Promise<string> {
  if (!ctx.is(type)) throw invalidRequest(`Content-Type must be ${type}`);
  const tooLarge = () => {
    ctx.set('Connection', 'close');
    return invalidRequest(`body must not exceed ${MAX_BODY_BYTES} bytes`);
  };
  if (Number(ctx.get('content-length') || 0) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Leaving the loop destroys the socket, and a client still sending would see a reset instead of
    // our 400: read (and drop) a moderate excess to its end; only an abusive one is cut off.
    if (size > MAX_DRAIN_BYTES) break;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw tooLarge();
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON object body of at most 64 kB; anything else is a 400 invalid_request. */
export async function readJsonObject(ctx: Context): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readBody(ctx, 'application/json'));
  } catch (err) {
    if (err instanceof SyntaxError) throw invalidRequest('body is not valid JSON');
    throw err;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidRequest('body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** An application/x-www-form-urlencoded body of at most 64 kB. */
export async function readForm(ctx: Context): Promise<URLSearchParams> {
  return new URLSearchParams(await readBody(ctx, 'application/x-www-form-urlencoded'));
}
