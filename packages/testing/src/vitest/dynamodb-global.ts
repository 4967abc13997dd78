import {
  type DynamoDbLocalOptions,
  type DynamoDbLocalServer,
  dynamoDbUrlFromEnv,
  startDynamoDbLocal,
} from '../dynamodb-local.js';

import { type ProvideFor, type ServerGlobalSetup, serverGlobalSetup } from './server-setup.js';

export type DynamoDbProvideContext = ProvideFor<'leasekitDynamoDbUrl', string>;
export type DynamoDbGlobalSetup = ServerGlobalSetup<'leasekitDynamoDbUrl', string>;

/**
 * A vitest global setup that starts DynamoDB Local (or uses `LEASEKIT_DYNAMODB_URL`) and
 * provides its endpoint to tests, which read it with `dynamoDbUrl()` from `@leasekit/testing/vitest`.
 */
export function dynamoDbGlobalSetup(options: DynamoDbLocalOptions = {}): DynamoDbGlobalSetup {
  return serverGlobalSetup({
    key: 'leasekitDynamoDbUrl',
    fromEnv: dynamoDbUrlFromEnv,
    start: (): Promise<DynamoDbLocalServer> => startDynamoDbLocal(options),
    address: (server) => server.url,
  });
}
