import type { Context } from 'koa';
import { invalidRequest } from '../errors.ts';

export const MAX_BODY_BYTES = 64 * 1024;

/** Reads a JSON object body of at most 64 kB; anything else is a 400 invalid_request. */
export async function readJsonObject(ctx: Context): Promise<Record<string, unknown>> {
  if (!ctx.is('application/json')) throw invalidRequest('Content-Type must be application/json');
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > MAX_BODY_BYTES) throw invalidRequest(`body must not exceed ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw invalidRequest(`body must not exceed ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw invalidRequest('body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidRequest('body must be a JSON object');
  return parsed as Record<string, unknown>;
}
