import { createMemoryBackend } from '@leasekit/memory';
import { type StandIn, startStandIn } from './stand-in.js';

export interface RunningService {
  readonly url: string;
  close(): Promise<void>;
}

/** A lock service on a free loopback port over the memory backend; `apiKeys`: tenant → key. */
export async function startService(apiKeys: Record<string, string> = {}): Promise<RunningService> {
  const service: StandIn = await startStandIn(createMemoryBackend(), apiKeys);
  return service;
}
