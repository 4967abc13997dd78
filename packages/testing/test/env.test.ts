import { describe, expect, it } from 'vitest';
import { ENV, parseRedisUrls, redisUrlsFromEnv } from '../src/index.js';

describe('LEASEKIT_REDIS_URLS', () => {
  it('names the variables', () => {
    expect(ENV).toEqual({
      redis: 'LEASEKIT_REDIS_URLS',
      azureBlob: 'LEASEKIT_AZURE_BLOB_URL',
      dynamodb: 'LEASEKIT_DYNAMODB_URL',
    });
  });

  it('is unset or blank: start our own servers', () => {
    expect(redisUrlsFromEnv({})).toBeUndefined();
    expect(parseRedisUrls(undefined)).toBeUndefined();
    expect(parseRedisUrls('')).toBeUndefined();
    expect(parseRedisUrls(' , ')).toBeUndefined();
  });

  it('parses a comma-separated list, trimming blanks', () => {
    expect(redisUrlsFromEnv({ LEASEKIT_REDIS_URLS: 'redis://127.0.0.1:7001' })).toEqual([
      'redis://127.0.0.1:7001',
    ]);
    expect(
      parseRedisUrls(' redis://redis-1:6379, redis://redis-2:6379,,rediss://user:pw@redis-3:6380/2 '),
    ).toEqual(['redis://redis-1:6379', 'redis://redis-2:6379', 'rediss://user:pw@redis-3:6380/2']);
  });

  it('rejects entries that are not redis URLs, naming the variable', () => {
    expect(() => parseRedisUrls('127.0.0.1:6379')).toThrow(
      /LEASEKIT_REDIS_URLS: "127.0.0.1:6379" is not a URL/,
    );
    expect(() => parseRedisUrls('redis://a:1,http://b:2')).toThrow(
      /"http:\/\/b:2" must look like redis:\/\/host:port/,
    );
    expect(() => parseRedisUrls('not a url')).toThrow(/"not a url" is not a URL/);
  });
});
