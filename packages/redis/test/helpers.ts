import { randomUUID } from 'node:crypto';
import { findBinary } from '@leasekit/testing';
import { type Command, Redis, type RedisOptions } from 'ioredis';
import { createLockClient, redisKeyNames } from '../src/index.js';

export const hasRedisServer: boolean =
  findBinary(process.env.LEASEKIT_REDIS_SERVER ?? 'redis-server') !== undefined;

export const uniqueKey = (label: string): string => `lk-redis-test:${label}:${randomUUID()}`;

/** Plain clients for looking at (and tampering with) the servers behind the backend. */
export function adminClients(urls: readonly string[]): Redis[] {
  return urls.map((url) => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {}); // a server a test killed
    return client;
  });
}

/** The lock key's holder on each node (null where free). */
export function holders(clients: readonly Redis[], key: string, prefix?: string): Promise<(string | null)[]> {
  const { lock } = redisKeyNames(key, prefix);
  return Promise.all(clients.map((client) => client.get(lock)));
}

export async function closeAll(clients: readonly Redis[]): Promise<void> {
  await Promise.all(clients.map((client) => client.quit().catch(() => client.disconnect())));
}

/** Lock clients (leasekit's settings), once every one of them is connected. */
export async function connectedLockClients(
  urls: readonly string[],
  overrides: RedisOptions = {},
): Promise<Redis[]> {
  const clients = urls.map((url) => createLockClient(url, overrides));
  await Promise.all(
    clients.map(async (client) => {
      client.on('error', () => {});
      if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    }),
  );
  return clients;
}

type CommandStream = Parameters<Redis['sendCommand']>[1];

/**
 * Puts `intercept` between `client` and its connection: it sees every command the client is
 * given and decides when (and whether) to pass it on with `send`.
 */
export function interceptCommands(
  client: Redis,
  intercept: (command: Command, send: () => unknown) => unknown,
): void {
  const sendCommand = client.sendCommand.bind(client);
  Object.assign(client, {
    sendCommand: (command: Command, stream?: CommandStream) =>
      intercept(command, () => sendCommand(command, stream)),
  });
}

/**
 * Reads until `ok` holds or `timeoutMs` passes, and returns the last value read: for what the
 * slowest node applies after a quorum has answered (a loaded machine can starve a server for
 * tens of milliseconds). The caller asserts on the value.
 */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 2_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || performance.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
