export type {
  ContractCapabilities,
  ContractGroup,
  ContractHooks,
  ContractOptions,
  ContractTiming,
} from './options.js';
export { LEFT_TO_ANOTHER_FILE, runLeaseContractTests } from './suite.js';
export { type CountingBackend, countCalls, type FaultSwitch, withRenewalFaults } from './wrappers.js';
