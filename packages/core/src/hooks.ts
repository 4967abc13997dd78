import type { LeaseError, LeaseLostError } from './errors.js';
import type { LeaseMode } from './lease.js';

/** Observability hooks. Each is called synchronously; a hook that throws is reported as a process warning, never propagated. */
export interface LockerHooks {
  acquired?(event: {
    key: string;
    mode: LeaseMode;
    fence: number | undefined;
    attempts: number;
    /** From the call to `acquire` until the lease was granted. */
    waitedMs: number;
    /** Round trip of the successful attempt (0 for a local hand-over). */
    durationMs: number;
    /** Taken from a caller of this locker by local hand-over, with no round trip (`localHandOvers`). */
    handedOver: boolean;
  }): void;
  renewed?(event: { key: string; durationMs: number; batchSize: number }): void;
  /** A renewal failed transiently and will be retried while validity remains. */
  renewFailed?(event: { key: string; error: LeaseError; remainingMs: number }): void;
  lost?(event: { key: string; error: LeaseLostError; heldMs: number }): void;
  released?(event: {
    key: string;
    heldMs: number;
    durationMs: number;
    wasHeld: boolean;
    /** Passed to the next waiter of this locker instead of released in the store (`localHandOvers`). */
    handedOver: boolean;
  }): void;
  /** A release failed or timed out; the lease will expire by its TTL. */
  releaseFailed?(event: { key: string; error: LeaseError }): void;
}

export type HookName = keyof LockerHooks;

export function callHook<K extends HookName>(
  hooks: LockerHooks | undefined,
  name: K,
  event: Parameters<NonNullable<LockerHooks[K]>>[0],
): void {
  const hook = hooks?.[name] as ((event: unknown) => void) | undefined;
  if (!hook) return;
  try {
    hook.call(hooks, event);
  } catch (error) {
    process.emitWarning(
      `leasekit: the '${name}' hook threw: ${error instanceof Error ? error.message : String(error)}`,
      {
        code: 'LEASEKIT_HOOK_ERROR',
      },
    );
  }
}
