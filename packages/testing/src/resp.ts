import { connect } from 'node:net';

/**
 * Sends one inline command to a Redis server over raw TCP and returns the raw reply text (enough
 * for PING and INFO; no client library needed). Rejects on connection errors and after `timeoutMs`.
 */
export function redisCommand(
  host: string,
  port: number,
  command: string,
  timeoutMs = 1_000,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect({ host, port });
    let buffer = '';
    const done = (error: Error | undefined, value?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value ?? '');
    };
    const timer = setTimeout(
      () => done(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.once('error', (error) => done(error));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const reply = completeReply(buffer);
      if (reply !== undefined) done(undefined, reply);
    });
    socket.once('end', () => done(new Error(`${host}:${port} closed the connection`)));
  });
}

/** The reply if `buffer` holds a complete simple, error, integer or bulk-string reply. */
function completeReply(buffer: string): string | undefined {
  const eol = buffer.indexOf('\r\n');
  if (eol < 0) return undefined;
  const type = buffer[0];
  if (type === '+' || type === '-' || type === ':') return buffer.slice(0, eol);
  if (type === '$') {
    const length = Number(buffer.slice(1, eol));
    if (length < 0) return '';
    const body = buffer.slice(eol + 2);
    return Buffer.byteLength(body) >= length + 2 ? body.slice(0, -2) : undefined;
  }
  return buffer;
}

/** True when the server at `host:port` answers PING with PONG. */
export async function redisPing(host: string, port: number, timeoutMs?: number): Promise<boolean> {
  return (await redisCommand(host, port, 'PING', timeoutMs)) === '+PONG';
}
