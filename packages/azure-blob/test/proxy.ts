import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request seen by the proxy, summarised. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  /** `acquire`, `renew`, `release`, `break` for lease calls; else the `comp` query parameter, or `blob`. */
  readonly operation: string;
}

/**
 * What to do with a request: forward it (optionally holding the answer back), or forward it and
 * then cut the connection instead of answering (the request landed, the client never hears so).
 */
export type Fault = { readonly delayMs?: number; readonly dropResponse?: boolean } | undefined;

export interface AzureProxy {
  /** Connection string that points the SDK at the proxy instead of the real endpoint. */
  readonly connectionString: string;
  readonly seen: SeenRequest[];
  /** Decides each request's fate; default: forward untouched. */
  fault: (request: SeenRequest) => Fault;
  count(operation: string): number;
  reset(): void;
  close(): Promise<void>;
}

function describe(req: IncomingMessage): SeenRequest {
  const url = new URL(req.url ?? '/', 'http://proxy');
  const comp = url.searchParams.get('comp');
  const action = req.headers['x-ms-lease-action'];
  const operation = comp === 'lease' && typeof action === 'string' ? action : (comp ?? 'blob');
  return { method: req.method ?? 'GET', path: url.pathname, operation };
}

/**
 * A plain HTTP proxy in front of the real blob endpoint (Azurite): it forwards every request as it
 * is (Shared Key signatures do not cover the host), counts them, and can delay an answer or drop it
 * after the request landed. Nothing is emulated: every answer comes from the real service.
 */
export async function startAzureProxy(connectionString: string): Promise<AzureProxy> {
  const endpoint = /BlobEndpoint=([^;]+)/.exec(connectionString)?.[1];
  if (!endpoint) throw new Error('the connection string has no BlobEndpoint');
  const target = new URL(endpoint);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const proxy: AzureProxy = {
    connectionString: '',
    seen: [],
    fault: () => undefined,
    count: (operation) => proxy.seen.filter((seen) => seen.operation === operation).length,
    reset: () => {
      proxy.seen.length = 0;
      proxy.fault = () => undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const seen = describe(req);
    proxy.seen.push(seen);
    const fault = proxy.fault(seen);
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => {
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          agent: false,
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.on('end', () => {
            const reply = () => {
              if (fault?.dropResponse) {
                req.socket.destroy();
                return;
              }
              res.writeHead(answer.statusCode ?? 502, answer.headers);
              res.end(Buffer.concat(chunks));
            };
            if (fault?.delayMs) {
              const timer = setTimeout(() => {
                timers.delete(timer);
                reply();
              }, fault.delayMs);
              timers.add(timer);
            } else {
              reply();
            }
          });
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(body));
    });
  };

  const server: Server = createServer(handle);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxied = `http://127.0.0.1:${port}${target.pathname}`;
  Object.assign(proxy, { connectionString: connectionString.replace(endpoint, proxied) });
  return proxy;
}
