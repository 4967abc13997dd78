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

export function endSpan(span: SpanLike | undefined, error?: unknown): void {
  if (!span) return;
  if (error !== undefined) {
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: STATUS_ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}
