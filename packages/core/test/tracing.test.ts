import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocker } from '../src/index.js';
import { ScriptedBackend } from './scripted-backend.js';

describe('OpenTelemetry', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  afterAll(() => trace.disable());

  it('emits acquire and release spans with backend, key and outcome when @opentelemetry/api is present', async () => {
    const backend = new ScriptedBackend();
    const locker = createLocker(backend, { ttl: '1s' });
    const lease = await locker.acquire('orders:1');
    await lease.release();
    backend.acquireScript = { status: 'held' };
    expect(await locker.tryAcquire('orders:1')).toBeNull();
    await locker.close();
    const spans = exporter
      .getFinishedSpans()
      .map((span) => ({ name: span.name, attributes: span.attributes }));
    expect(spans).toEqual([
      {
        name: 'leasekit.acquire',
        attributes: {
          'leasekit.backend': 'scripted',
          'leasekit.key': 'orders:1',
          'leasekit.mode': 'timeout',
          'leasekit.acquired': true,
        },
      },
      {
        name: 'leasekit.release',
        attributes: { 'leasekit.backend': 'scripted', 'leasekit.key': 'orders:1' },
      },
      {
        name: 'leasekit.acquire',
        attributes: {
          'leasekit.backend': 'scripted',
          'leasekit.key': 'orders:1',
          'leasekit.mode': 'timeout',
          'leasekit.acquired': false,
        },
      },
    ]);
  });
});
