export { Authenticator, PUBLIC_TENANT } from './auth.js';
export { createBackend } from './backend.js';
export {
  BACKEND_KINDS,
  type BackendConfig,
  type BackendKind,
  CONFIG_VARIABLES,
  ConfigError,
  type ConfigVariable,
  type LogLevel,
  loadConfig,
  type ServiceConfig,
} from './config.js';
export { DEFAULT_TTL_MS, formatGoDuration, MAX_WAIT_MS, parseGoDuration } from './durations.js';
export { type ProblemBody, type ProblemCode, ProblemError } from './problem.js';
export { BODY_LIMIT, buildServer, type ServerDeps } from './server.js';
