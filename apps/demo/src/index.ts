export { binPath } from './bins.js';
export {
  createScratchDatabase,
  DEFAULT_POSTGRES_URL,
  postgresReachable,
  type ScratchDatabase,
} from './scratch-database.js';
export { type SeedStack, type SeedStackOptions, startSeedStack } from './seed-stack.js';
