export {
  AZURE_BLOB_ENV,
  AZURITE_ACCOUNT_KEY,
  AZURITE_ACCOUNT_NAME,
  AZURITE_INSTALL_HINT,
  type AzuriteOptions,
  type AzuriteServer,
  azureBlobFromEnv,
  azuriteConnectionString,
  findAzurite,
  startAzurite,
} from './azurite.js';
export { findBinary, MissingBinaryError } from './binary.js';
export {
  DYNAMODB_LOCAL_CREDENTIALS,
  DYNAMODB_LOCAL_SOURCE,
  type DynamoDbLocalOptions,
  type DynamoDbLocalServer,
  dynamoDbUrlFromEnv,
  ensureDynamoDbLocal,
  JAVA_INSTALL_HINT,
  leasekitCacheDir,
  startDynamoDbLocal,
} from './dynamodb-local.js';
export { ENV, parseRedisUrls, redisUrlsFromEnv } from './env.js';
export { getFreePort, isPortFree } from './free-port.js';
export {
  REDIS_INSTALL_HINT,
  type RedisServer,
  type RedisServerOptions,
  startRedisServer,
  startRedisServers,
  stopAll,
} from './redis.js';
export { redisCommand, redisPing } from './resp.js';
export {
  type ServerAddress,
  type ServerExit,
  type ServerProcess,
  type StartServerOptions,
  startServer,
} from './server-process.js';
