/**
 * `--backend dynamodb`: a lock item per blob name in DynamoDB Local (started once for this file,
 * or LEASEKIT_DYNAMODB_URL), the input's marks under If-Match. The same exactly-once run as the
 * Azure and Redis ones, with a crashing blob that must end up failed after the bound.
 */
import {
  DYNAMODB_LOCAL_CREDENTIALS,
  type DynamoDbLocalServer,
  dynamoDbUrlFromEnv,
  startDynamoDbLocal,
} from '@leasekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRun } from '../src/index.js';
import { eventsOf, fixture, supervise } from './helpers.js';

let server: DynamoDbLocalServer | undefined;
let endpoint: string;

beforeAll(async () => {
  const fromEnv = dynamoDbUrlFromEnv();
  if (fromEnv) endpoint = fromEnv;
  else {
    server = await startDynamoDbLocal();
    endpoint = server.url;
  }
}, 90_000);
afterAll(async () => {
  await server?.stop();
});

describe('leasekit-blob-worker --backend dynamodb', () => {
  it('3 workers x 40 blobs: each done once; a crashing blob failed after 3 deaths', async () => {
    const f = await fixture(40, { crashing: 1 });
    const crashing = f.crashing[0]!;
    const args = [
      ...['--backend', 'dynamodb', '--dynamodb-endpoint', endpoint],
      ...['--dynamodb-table', `blob-worker-${f.args[1]}`, '--ttl', '3s'],
    ];
    const env = {
      AWS_ACCESS_KEY_ID: DYNAMODB_LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: DYNAMODB_LOCAL_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    };
    const { workers, restarts } = await supervise(f, ['d1', 'd2', 'd3'], args, 6, env);
    expect(restarts).toBe(3);
    const others = f.names.filter((name) => name !== crashing);
    const verification = await verifyRun(f.containers);
    expect(verification).toMatchObject({ done: 39, failed: 1, pending: 0, outputs: 39, duplicates: [] });
    expect(verification.failures).toEqual([
      { name: crashing, attempts: 3, reason: expect.stringMatching(/^the worker died 3 times/) },
    ]);
    const commits = eventsOf(workers, 'committed');
    expect(commits.map((c) => c.event.blob).sort()).toEqual(others.sort());
    for (const manifest of verification.manifests) {
      const commit = commits.find((c) => c.event.blob === manifest.input.name)!.event;
      expect(manifest).toMatchObject({ lock: 'dynamodb', worker: commit.worker, fence: commit.fence });
    }
    expect(eventsOf(workers, 'conflict')).toEqual([]);
  });
});
