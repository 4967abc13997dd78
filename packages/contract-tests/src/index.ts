export type {
  ContractCapabilities,
  ContractGroup,
  ContractHooks,
  ContractOptions,
  ContractTiming,
} from './options.js';
export { runLeaseContractTests } from './suite.js';
export { type CountingBackend, countCalls, type FaultSwitch, withRenewalFaults } from './wrappers.js';
