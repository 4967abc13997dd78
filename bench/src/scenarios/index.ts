/**
 * Every registered scenario, in the order `pnpm bench` runs them and the README lists them.
 * To add scenarios: export a list from a module of this folder and spread it in here.
 */
import { checkRegistry } from '../registry.js';
import type { Scenario } from '../types.js';
import { azureBlobScenarios } from './azure-blob.js';
import { blobWorkerScenarios } from './blob-worker.js';
import { dynamodbScenarios } from './dynamodb.js';
import { memoryScenarios } from './memory.js';
import { redisScenarios } from './redis.js';
import { redisMultiProcessScenarios } from './redis-multi-process.js';
import { serviceScenarios } from './service.js';

export const scenarios: readonly Scenario[] = [
  ...memoryScenarios,
  ...redisScenarios,
  ...redisMultiProcessScenarios,
  ...azureBlobScenarios,
  ...blobWorkerScenarios,
  ...dynamodbScenarios,
  ...serviceScenarios,
];

checkRegistry(scenarios);
