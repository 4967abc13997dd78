/**
 * A TCP proxy that delivers a server's answers `delay` ms late: a slow node (a congested link, a
 * far zone, a server that pauses), as opposed to a stopped one. Run as its own process on the
 * server core (`startDelayProxy`), so its timers and copies do not cost the client core.
 *
 * As a script: `node delay-proxy.js <upstream port> <delay ms>`; prints its port on stdout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serverCommand } from './pin.js';

export interface DelayProxy {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts the proxy in front of `127.0.0.1:upstreamPort`, on the server core when pinned. */
export async function startDelayProxy(upstreamPort: number, delayMs: number): Promise<DelayProxy> {
  const script = fileURLToPath(import.meta.url);
  const { command, args } = serverCommand(process.execPath, [script, String(upstreamPort), String(delayMs)]);
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    once(child, 'exit').then(() => {
      throw new Error('the delay proxy exited before it listened');
    }),
  ])) as [Buffer];
  const port = Number(String(line).trim());
  if (!Number.isInteger(port)) throw new Error(`the delay proxy printed ${String(line)}, not a port`);
  return {
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

function serve(upstreamPort: number, delayMs: number): void {
  const server = createServer((client: Socket) => {
    client.setNoDelay(true);
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    upstream.setNoDelay(true);
    client.on('data', (chunk) => upstream.write(chunk));
    // Timers of one length fire in the order they were set: the answers stay in order.
    upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), delayMs));
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', close);
    upstream.on('error', close);
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address ? address.port : ''}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  serve(Number(process.argv[2]), Number(process.argv[3]));
}
