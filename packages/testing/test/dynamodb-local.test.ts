import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findBinary } from '../src/binary.js';
import {
  DYNAMODB_LOCAL_SOURCE,
  dynamoDbUrlFromEnv,
  ensureDynamoDbLocal,
  leasekitCacheDir,
  startDynamoDbLocal,
} from '../src/index.js';

describe('DynamoDB Local', () => {
  it('reads LEASEKIT_DYNAMODB_URL, and refuses what is not an http(s) URL', () => {
    expect(dynamoDbUrlFromEnv({})).toBeUndefined();
    expect(dynamoDbUrlFromEnv({ LEASEKIT_DYNAMODB_URL: ' ' })).toBeUndefined();
    expect(dynamoDbUrlFromEnv({ LEASEKIT_DYNAMODB_URL: 'http://127.0.0.1:8000/' })).toBe(
      'http://127.0.0.1:8000',
    );
    expect(() => dynamoDbUrlFromEnv({ LEASEKIT_DYNAMODB_URL: 'redis://x:1' })).toThrow(/http:\/\/host:port/);
    expect(() => dynamoDbUrlFromEnv({ LEASEKIT_DYNAMODB_URL: 'nope' })).toThrow(/not a URL/);
  });

  it('caches under LEASEKIT_CACHE_DIR, else XDG_CACHE_HOME/leasekit, else ~/.cache/leasekit', () => {
    expect(leasekitCacheDir({ LEASEKIT_CACHE_DIR: '/c' })).toBe('/c');
    expect(leasekitCacheDir({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'leasekit'));
    expect(leasekitCacheDir({})).toMatch(/\.cache[/\\]leasekit$/);
  });

  it.skipIf(!findBinary(process.env.LEASEKIT_JAVA ?? 'java'))(
    'fetches the pinned jar once, starts it on a free port, and stops it',
    async () => {
      const emulator = await ensureDynamoDbLocal();
      expect(emulator).toContain(DYNAMODB_LOCAL_SOURCE.dynamoDbLocalVersion);
      expect(existsSync(join(emulator, 'DynamoDBLocal.jar'))).toBe(true);
      // A second call finds it in the cache.
      const started = performance.now();
      expect(await ensureDynamoDbLocal()).toBe(emulator);
      expect(performance.now() - started).toBeLessThan(1_000);

      const server = await startDynamoDbLocal({ emulatorDir: emulator });
      try {
        expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
        const response = await fetch(server.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': 'DynamoDB_20120810.ListTables',
            authorization:
              'AWS4-HMAC-SHA256 Credential=leasekit/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
          },
          body: '{}',
        });
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual({ TableNames: [] });
        expect(server.output()).toContain(`Version:\t${DYNAMODB_LOCAL_SOURCE.dynamoDbLocalVersion}`);
      } finally {
        await server.stop();
      }
      expect(server.running).toBe(false);
      expect(existsSync(server.dir)).toBe(false);
    },
    90_000,
  );
});
