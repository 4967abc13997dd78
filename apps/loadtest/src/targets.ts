/** One undici Pool per order-service URL; requests go round robin over them. */
import { Pool } from 'undici';

export interface Target {
  readonly url: string;
  readonly pool: Pool;
  /** The URL's path without its trailing slash ('' for a bare origin). */
  readonly prefix: string;
}

export function openTargets(urls: readonly string[], connections: number): Target[] {
  return urls.map((url) => {
    const parsed = new URL(url);
    return {
      url,
      pool: new Pool(parsed.origin, { connections, pipelining: 1 }),
      prefix: parsed.pathname.replace(/\/+$/, ''),
    };
  });
}

export async function closeTargets(targets: readonly Target[]): Promise<void> {
  await Promise.all(targets.map((target) => target.pool.close()));
}

/** Reads an item's stock with `GET /stock/{item}`. */
export async function readStock(target: Target, item: string, timeoutMs: number): Promise<number> {
  const response = await target.pool
    .request({
      method: 'GET',
      path: `${target.prefix}/stock/${encodeURIComponent(item)}`,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    })
    .catch((error: unknown) => {
      throw new Error(
        `GET ${target.url}/stock/${item}: ${(error as Error).message} (is the order service running at ${target.url}?)`,
        { cause: error },
      );
    });
  const text = await response.body.text();
  if (response.statusCode !== 200) {
    throw new Error(
      `GET ${target.url}/stock/${item} answered ${response.statusCode}${response.statusCode === 404 ? ' (seed the item with POST /stock)' : ''}: ${text.slice(0, 200)}`,
    );
  }
  const quantity = (JSON.parse(text) as { quantity?: unknown }).quantity;
  if (typeof quantity !== 'number')
    throw new Error(`GET ${target.url}/stock/${item}: no quantity in ${text.slice(0, 200)}`);
  return quantity;
}
