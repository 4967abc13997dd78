/**
 * docker-compose.yml, checked without a Docker engine: every build context and mounted file
 * exists, every app's environment is one its configuration schema knows and accepts, and the
 * ports agree (published ports, nginx's upstreams and listen port, the URLs the apps are given).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from '@leasekit/loadtest';
import { CONFIG_VARIABLES, loadConfig } from '@leasekit/lock-service';
import { configFromEnv, ORDER_SERVICE_ENV } from '@leasekit/order-service';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  command?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;
/** The app a service builds: the demo recipe's APP argument, or an app's own Dockerfile. */
const app = (name: string) =>
  services[name]?.build?.args?.APP ??
  /^apps\/([\w-]+)\/Dockerfile$/.exec(services[name]?.build?.dockerfile ?? '')?.[1];
const byApp = (name: string) => Object.entries(services).filter(([service]) => app(service) === name);
/** Container port of a `host:container` mapping. */
const containerPort = (mapping: string) => Number(mapping.split(':').at(-1));
const healthPort = (service: Service) => {
  const url = /http:\/\/[^'"\s)]+/.exec(service.healthcheck?.test.join(' ') ?? '')?.[0];
  return url === undefined ? undefined : Number(new URL(url).port);
};

const nginx = readFileSync(join(root, 'apps/demo/compose/nginx.conf'), 'utf8');
const nginxListen = Number(/listen\s+(\d+);/.exec(nginx)?.[1]);
const nginxUpstreams = [...nginx.matchAll(/server\s+([\w.-]+):(\d+);/g)].map((m) => ({
  host: m[1]!,
  port: Number(m[2]),
}));

describe('docker-compose.yml', () => {
  it('keeps the stores: Redis x3, Azurite, DynamoDB Local, and adds PostgreSQL', () => {
    for (const name of ['redis-1', 'redis-2', 'redis-3', 'azurite', 'dynamodb', 'postgres']) {
      expect(services[name], name).toBeDefined();
    }
    expect(byApp('lock-service').map(([name]) => name)).toEqual(['lock-service-1', 'lock-service-2']);
    expect(byApp('order-service').map(([name]) => name)).toEqual(['order-service-1', 'order-service-2']);
    expect(byApp('loadtest').map(([name]) => name)).toEqual(['loadtest']);
  });

  it('builds every app from a context and Dockerfile that exist, and the app has the entry point the image runs', () => {
    const dockerfiles = new Set<string>();
    for (const [name, service] of Object.entries(services)) {
      if (!service.build) {
        expect(service.image, `${name} has an image or a build`).toBeDefined();
        continue;
      }
      const context = join(root, service.build.context);
      expect(existsSync(context), `${name}: context ${service.build.context}`).toBe(true);
      const dockerfile = join(context, service.build.dockerfile ?? 'Dockerfile');
      expect(existsSync(dockerfile), `${name}: ${dockerfile}`).toBe(true);
      dockerfiles.add(dockerfile);
      const manifest = JSON.parse(readFileSync(join(root, 'apps', app(name)!, 'package.json'), 'utf8'));
      expect(Object.values(manifest.bin), `${name}: bin`).toContain('./dist/main.js');
    }
    for (const dockerfile of dockerfiles) {
      expect(readFileSync(dockerfile, 'utf8')).toMatch(/ENTRYPOINT \["node", "dist\/main\.js"\]/);
    }
  });

  it('mounts only files that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it("sets only variables the lock service's schema knows, with values it accepts", () => {
    const known = CONFIG_VARIABLES.map((variable) => variable.name);
    const secrets = new Set<string>();
    for (const [name, service] of byApp('lock-service')) {
      const env = service.environment ?? {};
      expect(
        Object.keys(env).filter((key) => !known.includes(key)),
        name,
      ).toEqual([]);
      // Over Redis the schema requires LEASEKIT_TOKEN_SECRET: loadConfig refuses the env without it.
      const config = loadConfig(env);
      expect(config.backend.kind).toBe('redis');
      expect(config.tokenSecretGenerated, `${name}: LEASEKIT_TOKEN_SECRET is configured`).toBe(false);
      secrets.add(config.tokenSecret);
    }
    expect(secrets.size, 'instances behind nginx share one LEASEKIT_TOKEN_SECRET').toBe(1);
  });

  it("sets only variables the order service's schema knows, with values it accepts", () => {
    for (const [name, service] of byApp('order-service')) {
      const env = service.environment ?? {};
      expect(
        Object.keys(env).filter((key) => !ORDER_SERVICE_ENV.includes(key)),
        name,
      ).toEqual([]);
      expect(configFromEnv(env)).toMatchObject({ locking: true, instance: name });
    }
  });

  it('gives the load test options it accepts, aimed at both order services', () => {
    const [, loadtest] = byApp('loadtest')[0]!;
    expect(loadtest.environment ?? {}).toEqual({});
    const options = parseOptions(loadtest.command ?? []);
    expect(options).not.toBe('help');
    const urls = (options as Exclude<typeof options, 'help'>).urls.map((url) => new URL(url));
    expect(urls.map((url) => url.hostname)).toEqual(['order-service-1', 'order-service-2']);
    for (const url of urls) {
      const target = services[url.hostname]!;
      expect(Number(url.port)).toBe(Number(target.environment?.PORT));
      expect(Object.keys(loadtest.depends_on ?? {})).toContain(url.hostname);
    }
  });

  it('wires the ports: published, health-checked, proxied and dialled ports agree', () => {
    // Order services: published and health-checked on the port they listen on.
    for (const [name, service] of byApp('order-service')) {
      const port = Number(service.environment?.PORT);
      expect(service.ports?.map(containerPort), name).toEqual([port]);
      expect(healthPort(service), name).toBe(port);
    }
    // Lock services: nginx's upstreams are exactly the instances, on the port each listens on.
    expect(nginxUpstreams.map((upstream) => upstream.host).sort()).toEqual([
      'lock-service-1',
      'lock-service-2',
    ]);
    for (const upstream of nginxUpstreams) {
      const service = services[upstream.host]!;
      expect(upstream.port).toBe(Number(service.environment?.PORT));
      expect(healthPort(service)).toBe(upstream.port);
    }
    // nginx listens where it is published, and where the order services call it.
    const balancer = services['lock-service']!;
    expect(balancer.image).toMatch(/^nginx:/);
    expect(balancer.ports?.map(containerPort)).toEqual([nginxListen]);
    expect(healthPort(balancer)).toBe(nginxListen);
    for (const [name, service] of byApp('order-service')) {
      const lockUrl = new URL(service.environment!.LOCK_SERVICE_URL!);
      expect([lockUrl.hostname, Number(lockUrl.port)], name).toEqual(['lock-service', nginxListen]);
      const databaseUrl = new URL(service.environment!.DATABASE_URL!);
      expect([databaseUrl.hostname, Number(databaseUrl.port)], name).toEqual(['postgres', 5432]);
      expect(databaseUrl.pathname.slice(1)).toBe(services.postgres?.environment?.POSTGRES_DB);
      const apiKeys = services['lock-service-1']!.environment!.LEASEKIT_API_KEYS!;
      expect(apiKeys.split(',').map((pair) => pair.slice(pair.indexOf(':') + 1))).toContain(
        service.environment!.LOCK_SERVICE_API_KEY,
      );
    }
    expect(services.postgres?.ports?.map(containerPort)).toEqual([5432]);
    // Redis: the lock services dial the three nodes on the port Redis listens on.
    for (const [, service] of byApp('lock-service')) {
      const urls = service.environment!.LEASEKIT_REDIS_URLS!.split(',').map((url) => new URL(url));
      expect(urls.map((url) => `${url.hostname}:${url.port}`)).toEqual([
        'redis-1:6379',
        'redis-2:6379',
        'redis-3:6379',
      ]);
    }
    for (const name of ['redis-1', 'redis-2', 'redis-3']) {
      expect(services[name]?.ports?.map(containerPort)).toEqual([6379]);
    }
  });

  it('makes each service wait for what it calls, healthy', () => {
    for (const [name, service] of [
      ...byApp('lock-service'),
      ...byApp('order-service'),
      ['lock-service', services['lock-service']!] as const,
    ]) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency]?.healthcheck, `${name} -> ${dependency}`).toBeDefined();
        expect(condition).toBe('service_healthy');
      }
    }
  });
});
