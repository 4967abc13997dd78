/** Errors over HTTP: `application/problem+json` with a stable `code`, as the lock service answers. */
import type { FastifyReply } from 'fastify';

export function problemType(code: string): string {
  return `https://leasekit.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`;
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function sendProblem(
  reply: FastifyReply,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: problemType(code), title: titles[status] ?? 'Error', status, code, detail, ...extra });
}
