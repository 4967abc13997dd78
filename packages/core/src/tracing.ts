/**
 * OpenTelemetry spans without a dependency: `@opentelemetry/api` is an optional peer, loaded
 * once on first use. When it is absent, or no tracer provider is registered, spans cost a
 * no-op call.
 */

export interface SpanLike {
  /** `false` for a span that records nothing (no SDK registered, or sampled out). */
  isRecording?(): boolean;
  setAttribute(key: string, value: string | number | boolean): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(error: Error): unknown;
  end(): void;
}

export interface TracerLike {
  startSpan(name: string, options?: { attributes?: Record<string, string | number | boolean> }): SpanLike;
}

const STATUS_ERROR = 2;
let loading: Promise<TracerLike | undefined> | undefined;

/** Loads the tracer once; resolves `undefined` when `@opentelemetry/api` is not installed. */
export function loadTracer(): Promise<TracerLike | undefined> {
  if (!loading) {
    // A variable specifier keeps bundlers and the type checker from requiring the package.
    const specifier = '@opentelemetry/api';
    loading = import(specifier).then(
      (api: { trace?: { getTracer(name: string): TracerLike } }) => api.trace?.getTracer('@leasekit/core'),
      () => undefined,
    );
  }
  return loading;
}

/**
 * A span for work that must go on whatever the tracer does (a release, a renewal, a loss): a
 * tracer that throws gives no span instead of stopping a release, which would leave the key
 * held and the next waiter asleep. Callers check for a tracer first, so that without one no
 * attributes are built on those paths.
 */
export function startSpan(
  tracer: TracerLike,
  name: string,
  attributes: Record<string, string | number | boolean>,
): SpanLike | undefined {
  try {
    return tracer.startSpan(name, { attributes });
  } catch {
    return undefined;
  }
}

/**
 * Ends `span`, with `attributes` and `error` if given; a span that throws does not fail the
 * operation it traced (an acquire that failed there would leave its lease held by nobody).
 */
export function endSpan(
  span: SpanLike | undefined,
  error?: unknown,
  attributes?: Record<string, string | number | boolean>,
): void {
  if (!span) return;
  try {
    if (attributes) for (const name in attributes) span.setAttribute(name, attributes[name]!);
    if (error !== undefined) {
      if (error instanceof Error) span.recordException(error);
      span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end();
  } catch {
    // Tracing is best effort: the lease outcome stands.
  }
}
