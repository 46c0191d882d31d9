// Where the stack under test lives, shared by playwright.config.ts and the tests. Without
// E2E_BASE_URL the config starts a fresh stack on test ports; the values below are then set once in
// the runner's environment (which the workers inherit) so every process agrees on them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const external = process.env.E2E_BASE_URL !== undefined && process.env.E2E_BASE_URL !== '';

if (!external) {
  process.env.E2E_STACK_DIR ??= mkdtempSync(join(tmpdir(), 'solutrix-e2e-'));
  process.env.E2E_ADMIN_TOKEN ??= randomBytes(24).toString('base64url');
}

export const ports = { solutrix: 13000, idp: 14000, serviceApi: 14001 } as const;

export const baseUrl = external ? process.env.E2E_BASE_URL!.replace(/\/+$/, '') : `http://localhost:${ports.solutrix}`;
export const idpUrl = (process.env.E2E_IDP_URL || (external ? 'http://localhost:4000' : `http://localhost:${ports.idp}`)).replace(/\/+$/, '');
export const serviceApiUrl = (process.env.E2E_SERVICE_API_URL || (external ? 'http://localhost:4001' : `http://localhost:${ports.serviceApi}`)).replace(/\/+$/, '');
export const stackDir = process.env.E2E_STACK_DIR;

/** The IDP admin token: ours when we started the stack, else IDP_ADMIN_TOKEN or `${IDP_DATA_DIR}/admin-token`. */
export function adminToken(): string {
  const token = external
    ? process.env.E2E_IDP_ADMIN_TOKEN || process.env.IDP_ADMIN_TOKEN || readFileSync(join(process.env.IDP_DATA_DIR || '.data/idp', 'admin-token'), 'utf8').trim()
    : process.env.E2E_ADMIN_TOKEN!;
  if (!token) throw new Error('no IDP admin token: set E2E_IDP_ADMIN_TOKEN (or IDP_ADMIN_TOKEN / IDP_DATA_DIR)');
  return token;
}

export const alice = { username: 'alice', password: process.env.SEED_ALICE_PASSWORD || 'alice-local-only' };

/** Alice's signed-in browser state, written by the setup project (gitignored). */
export const ALICE_STATE = join(import.meta.dirname, '.auth', 'alice.json');
