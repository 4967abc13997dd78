/**
 * `@leasekit/core/backend-kit`: helpers for backend authors, kept off the root export so that
 * the API an application sees is the locker's. Less stable than the root: they may change in
 * a minor release (with a changeset saying so).
 */
export { type Deadline, Deadlines } from './deadlines.js';
