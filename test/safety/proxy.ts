/**
 * A small TCP fault proxy between clients and a server: it forwards bytes both ways and, on
 * command, delays them (`latencyMs`), swallows them (`blackhole`: connections stay open and
 * silent, as across a partition), or resets a client's connection right after forwarding its
 * request (`resetAfterForward`, a probability: the request may have been applied, the client
 * cannot know). `retarget` points new connections at another port (a server restarted elsewhere
 * keeps its address).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ProxyFaults {
  latencyMs?: number;
  blackhole?: boolean;
  resetAfterForward?: number;
}

export class FaultProxy {
  readonly faults: ProxyFaults = {};
  /** Requests forwarded and then answered by a reset. */
  resets = 0;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  #target: { host: string; port: number };

  constructor(host: string, port: number) {
    this.#target = { host, port };
  }

  get port(): number {
    const address = this.#server?.address();
    if (!address || typeof address !== 'object') throw new Error('proxy not listening');
    return address.port;
  }

  async listen(): Promise<this> {
    this.#server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    return this;
  }

  set(faults: ProxyFaults): void {
    for (const key of Object.keys(this.faults) as Array<keyof ProxyFaults>) delete this.faults[key];
    Object.assign(this.faults, faults);
  }

  retarget(port: number): void {
    this.#target = { ...this.#target, port };
  }

  /** Drops every open connection (e.g. after the server behind it died). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(client: Socket): void {
    const upstream = connect(this.#target.port, this.#target.host);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    this.#pipe(client, upstream, true);
    this.#pipe(upstream, client, false);
  }

  #pipe(from: Socket, to: Socket, request: boolean): void {
    // Chunks keep their order under latency: each leaves no earlier than the one before it.
    let lastAt = 0;
    from.on('data', (chunk: Buffer) => {
      if (this.faults.blackhole) return;
      const forward = () => {
        if (to.destroyed) return;
        to.write(chunk);
        const p = this.faults.resetAfterForward ?? 0;
        if (request && p > 0 && Math.random() < p) {
          this.resets += 1;
          from.resetAndDestroy();
        }
      };
      const latency = this.faults.latencyMs ?? 0;
      if (latency <= 0 && lastAt <= Date.now()) return forward();
      lastAt = Math.max(Date.now() + latency, lastAt);
      setTimeout(forward, lastAt - Date.now());
    });
  }
}
