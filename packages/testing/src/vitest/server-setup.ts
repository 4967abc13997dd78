// Runs in vitest's main process, where the `vitest` runtime must not be imported.

/** What a vitest global setup receives (vitest's `TestProject`): only `provide` is used. */
export interface ProvideFor<K extends string, V> {
  provide(key: K, value: V): void;
}

export type ServerGlobalSetup<K extends string, V> = (
  project: ProvideFor<K, V>,
) => Promise<() => Promise<void>>;

/**
 * The shape every backend's global setup shares: use the address the environment names, or start
 * a server and stop it after the run; either way provide the address to tests under `key`.
 */
export function serverGlobalSetup<K extends string, V, S extends { stop(): Promise<void> }>(spec: {
  readonly key: K;
  readonly fromEnv: () => V | undefined;
  readonly start: () => Promise<S>;
  readonly address: (server: S) => V;
}): ServerGlobalSetup<K, V> {
  return async (project) => {
    const fromEnv = spec.fromEnv();
    const server = fromEnv === undefined ? await spec.start() : undefined;
    project.provide(spec.key, fromEnv ?? spec.address(server!));
    return async () => {
      await server?.stop();
    };
  };
}
