import { runLeaseContractTests } from '@leasekit/contract-tests';
import { createMemoryBackend, createMemoryStore } from '@leasekit/memory';
import { afterAll, beforeAll } from 'vitest';
import { createHttpBackend, HoldingTokens } from '../src/index.js';
import { type StandIn, startStandIn } from './stand-in.js';

const store = createMemoryStore();
let service: StandIn;
beforeAll(async () => {
  service = await startStandIn(createMemoryBackend({ store }));
});
afterAll(() => service.close());

// The suite's backends stand for several clients of one process: they share one map of the
// service's tokens, so a locker can renew or release by ref what another one acquired.
const holdings = new HoldingTokens();

runLeaseContractTests({
  name: 'http → lock service → memory',
  createBackend: () => createHttpBackend({ baseUrl: service.url, holdings }),
  capabilities: {
    renew: true,
    fencing: true,
    inspect: true,
    minTtlMs: 10,
    maxTtlMs: 86_400_000,
  },
  hooks: { forceExpire: (key) => createMemoryBackend({ store }).forceExpire(`public/${key}`) },
});
