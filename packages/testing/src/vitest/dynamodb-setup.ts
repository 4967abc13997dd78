/**
 * Ready-made vitest global setup: one DynamoDB Local (or `LEASEKIT_DYNAMODB_URL`).
 * `test: { globalSetup: ['@leasekit/testing/vitest/dynamodb'] }`
 */
import { type DynamoDbGlobalSetup, dynamoDbGlobalSetup } from './dynamodb-global.js';

const setup: DynamoDbGlobalSetup = dynamoDbGlobalSetup();
export default setup;
