import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * `cancelled`: the client went away during its wait; `abandoned`: granted as (or after) the
 * client went away, and given back at once; `abandoned_kept`: the same under an
 * `Idempotency-Key`, left to its TTL (the client's retry may hold that very holding).
 */
export type AcquireOutcome =
  | 'granted'
  | 'contended'
  | 'timed_out'
  | 'cancelled'
  | 'abandoned'
  | 'abandoned_kept'
  | 'error';

/**
 * Prometheus metrics of one server instance: its own registry, so two servers in one process
 * (tests) never share a counter. Everything is per instance: behind a load balancer, sum them.
 *
 * Only counters of what this instance answered, no gauge of leases held: the locker of a
 * stateless service does not track what it grants (any instance renews or releases any lease,
 * and expiries happen in the store, unseen), so no instance can tell how many are held now.
 */
export class ServiceMetrics {
  readonly registry: Registry = new Registry();
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #latency: Histogram<'method' | 'route' | 'status'>;
  readonly #acquires: Counter<'outcome'>;
  readonly #waits: Histogram<'outcome'>;
  readonly #renewals: Counter<'outcome'>;
  readonly #releases: Counter<'outcome'>;
  readonly #losses: Counter<'operation'>;
  readonly #waiting: Gauge;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'leasekit_' });
    this.#requests = new Counter({
      name: 'leasekit_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#latency = new Histogram({
      name: 'leasekit_http_request_duration_seconds',
      help: 'HTTP request latency by route and status (server-side waits included)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#acquires = new Counter({
      name: 'leasekit_acquires_total',
      help: 'Acquire requests by outcome: granted, contended (409 without waiting), timed_out (409 after waiting), cancelled (the client left during its wait), abandoned (granted as the client left, given back), abandoned_kept (the same under an Idempotency-Key: left to its TTL), error',
      labelNames: ['outcome'],
      registers,
    });
    this.#waits = new Histogram({
      name: 'leasekit_acquire_wait_seconds',
      help: 'Time acquires with a wait spent waiting on the server, by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#renewals = new Counter({
      name: 'leasekit_renewals_total',
      help: 'Renew requests by outcome: renewed, lost (410), error',
      labelNames: ['outcome'],
      registers,
    });
    this.#losses = new Counter({
      name: 'leasekit_leases_lost_total',
      help: 'Renew or release requests whose token no longer held the key (410 LEASE_LOST)',
      labelNames: ['operation'],
      registers,
    });
    this.#releases = new Counter({
      name: 'leasekit_releases_total',
      help: 'Release requests by outcome: released, lost (410), error',
      labelNames: ['outcome'],
      registers,
    });
    this.#waiting = new Gauge({
      name: 'leasekit_acquires_waiting',
      help: 'Acquire requests waiting on the server for a held key now',
      registers,
    });
  }

  request(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.#requests.inc(labels);
    this.#latency.observe(labels, seconds);
  }

  acquire(outcome: AcquireOutcome, waitedSeconds: number | undefined): void {
    this.#acquires.inc({ outcome });
    if (waitedSeconds !== undefined) this.#waits.observe({ outcome }, waitedSeconds);
  }

  /** A request starts (+1) or stops (-1) waiting on the server. */
  waiting(delta: 1 | -1): void {
    this.#waiting.inc(delta);
  }

  renewal(outcome: 'renewed' | 'lost' | 'error'): void {
    this.#renewals.inc({ outcome });
    if (outcome === 'lost') this.#losses.inc({ operation: 'renew' });
  }

  release(outcome: 'released' | 'lost' | 'error'): void {
    this.#releases.inc({ outcome });
    if (outcome === 'lost') this.#losses.inc({ operation: 'release' });
  }
}
