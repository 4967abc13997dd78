/**
 * The seed's script meant to send its batches concurrently and sent them one at a time. Here two
 * HTTP servers stand in for order services and hold every order until the whole batch has
 * arrived: a load test that sent its batch one request after another would see none answered
 * (each would time out), and the servers see how many orders were in flight at once.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLoadtest } from '../src/loadtest.js';
import { type LoadtestOptions, parseOptions } from '../src/options.js';

const CONCURRENCY = 8;
const BATCHES = 2;

let servers: Server[] = [];
let urls: string[] = [];
const held: Array<{ response: ServerResponse; instance: string }> = [];
let inFlight = 0;
let maxInFlight = 0;
let released = 0;

function barrier(instance: string) {
  return (request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    request.once('end', () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push({ response, instance });
      if (held.length < CONCURRENCY) return;
      // The whole batch is here: answer it at once.
      released++;
      for (const order of held.splice(0)) {
        inFlight--;
        order.response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ code: 'ORDER_PLACED', instance: order.instance }));
      }
    });
  };
}

beforeAll(async () => {
  servers = ['a', 'b'].map((instance) => createServer(barrier(instance)));
  for (const server of servers) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  urls = servers.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

it('sends each batch truly concurrently: every order of a batch is in flight at once', async () => {
  const options = parseOptions([
    '--url',
    urls.join(','),
    '--batches',
    String(BATCHES),
    '--concurrency',
    String(CONCURRENCY),
    '--pause',
    '0',
    '--timeout',
    '3s',
    '--log',
    '-',
    '--no-check',
    '--progress',
    'none',
  ]) as LoadtestOptions;
  const summary = await runLoadtest(options);
  expect(summary.statuses).toEqual({ '200': BATCHES * CONCURRENCY });
  expect(summary.instances).toEqual({ a: (BATCHES * CONCURRENCY) / 2, b: (BATCHES * CONCURRENCY) / 2 });
  expect(maxInFlight).toBe(CONCURRENCY);
  expect(released).toBe(BATCHES);
  expect(held).toEqual([]);
  // One after the other, each order would wait out its 3 s timeout: 2 x 8 x 3 s.
}, 60_000);
