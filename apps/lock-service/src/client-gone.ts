import type { FastifyReply } from 'fastify';

/**
 * A signal that aborts when the client goes away before its answer is written: it closed the
 * connection or aborted the request (undici closes the socket of an aborted request). A wait for
 * such a client ends, and a grant made for it anyway is given back: it would otherwise be held
 * by nobody until its TTL.
 */
export function clientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  const raw = reply.raw;
  const socket = raw.socket;
  const abort = () => gone.abort(new Error('the client went away'));
  if (socket === null || socket.destroyed || socket.readableEnded) {
    abort();
    return gone.signal;
  }
  // The end of the client's side is read as soon as it arrives, ahead of the socket's 'close'
  // (which waits for our side to shut down): a release of the key racing the abort on another
  // connection then finds this wait already ended. HTTP clients do not half-close while they
  // wait for an answer, so an ended socket means the client left.
  socket.once('end', abort);
  raw.once('close', () => {
    socket.off('end', abort); // keep-alive: the socket serves further requests
    // 'close' also follows an answer written in full: only an unfinished one means the client left.
    if (!raw.writableFinished) abort();
  });
  return gone.signal;
}
