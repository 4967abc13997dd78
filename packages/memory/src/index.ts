export { createMemoryBackend, type MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';
export { createMemoryStore, type MemoryStore, type MemoryStoreOptions } from './store.js';
