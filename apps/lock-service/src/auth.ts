import { hash } from 'node:crypto';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import { ProblemError } from './problem.js';

/** The tenant of every request when the service runs with `--insecure` and no keys. */
export const PUBLIC_TENANT = 'public';

/**
 * Bearer API keys → tenants. Keys are looked up by their SHA-256, so the lookup's timing says
 * nothing about how much of a guessed key was right.
 */
export class Authenticator {
  readonly #tenants = new Map<string, string>();
  readonly #open: boolean;

  constructor(apiKeys: ReadonlyMap<string, string>, insecure: boolean) {
    for (const [key, tenant] of apiKeys) this.#tenants.set(digest(key), tenant);
    this.#open = insecure && apiKeys.size === 0;
  }

  /**
   * The routes' `onRequest` hook: sets `request.tenant`, or answers 401 before the body is read
   * or validated (an unauthenticated caller learns nothing else).
   */
  readonly authenticate: onRequestHookHandler = (request, _reply, done) => {
    try {
      request.tenant = this.tenantOf(request);
    } catch (error) {
      return done(error as Error);
    }
    done();
  };

  /** The caller's tenant, or a 401 problem. */
  tenantOf(request: FastifyRequest): string {
    if (this.#open) return PUBLIC_TENANT;
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header.trim()) : null;
    if (!match) {
      throw new ProblemError(401, 'UNAUTHORIZED', 'send an API key as Authorization: Bearer <key>');
    }
    const tenant = this.#tenants.get(digest(match[1]!));
    if (tenant === undefined) throw new ProblemError(401, 'UNAUTHORIZED', 'unknown API key');
    return tenant;
  }
}

function digest(key: string): string {
  return hash('sha256', key, 'hex'); // one call, no Hash object: it runs on every request
}
