import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import { ErrorCode, FramehubError } from '../wire/errors.js';
import { describe, parseJsonObject } from '../protocols/values.js';
import { MessageLimiter } from './message-limiter.js';
import { refusalOf } from './route-errors.js';
import type { RouteContext } from './route-context.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { wsSendQuiet } from './ws-send.js';
import { closeSocket } from './ws-close.js';
import { GenerationError } from '../generations/generation-error.js';
import type { GenerationsModule } from './generations-module.js';
import { parseFailure, parseImageFields, parseJobIdParam, parseJobInput, parseNotification, parseProgress } from '../protocols/publish-schema.js';

type RequestId = string | number | undefined;

interface PendingImage {
  requestId: RequestId;
  jobId: string;
  fields: Record<string, unknown>;
  size: number;
  chunks: Buffer[];
  received: number;
}

/** The producer socket's refusal: its `{type: 'error', error, message}`, then the close code of the error's code. */
export function producerRefusal(ws: WebSocket, error: FramehubError): void {
  wsSendQuiet(ws, JSON.stringify({ type: 'error', error: error.code, message: error.message }));
  closeSocket(ws, error.closeCode, error.message);
}

/**
 * `WS /ws/producer`, for a token with `publish` (access.ts checks it before this runs): the
 * publish API for producers that stream. JSON commands `job.create`,
 * `job.progress`, `job.fail`, `notification`, `ping`, and `job.image` (a JSON header with
 * `size`, then that many bytes in binary messages, each within the server's message limit).
 * Every command may carry a `request_id`, echoed in its `ack` or `error`. Commands are handled
 * one at a time in arrival order; while one is being stored the socket stops reading, so a
 * fast producer is slowed down by TCP instead of queueing in the server.
 */
export function producerRoute({ log }: RouteContext, module: GenerationsModule, options: { maxImageSize: number }): UpgradeHandler {
  const { generations } = module;
  return function handleProducerSocket(ws: WebSocket, _req: IncomingMessage, _url: URL) {
    const fail = (error: FramehubError) => producerRefusal(ws, error);

    const limiter = new MessageLimiter();
    let pending: PendingImage | undefined;
    let chain: Promise<void> = Promise.resolve();
    const answer = (requestId: RequestId, body: Record<string, unknown>) =>
      wsSendQuiet(ws, JSON.stringify({ type: 'ack', ...(requestId !== undefined && { request_id: requestId }), ...body }));
    const refuse = (requestId: RequestId, error: FramehubError) =>
      wsSendQuiet(ws, JSON.stringify({ type: 'error', ...(requestId !== undefined && { request_id: requestId }), error: error.code, message: error.message }));

    /** Runs commands in order, reading no further input until the current one is done. */
    const run = (requestId: RequestId, task: () => Promise<Record<string, unknown>> | Record<string, unknown>) => {
      ws.pause();
      chain = chain
        .then(task)
        .then((body) => answer(requestId, body), (error: unknown) => refuse(requestId, refusalOf(error, log, 'producer command')))
        .finally(() => {
          if (ws.readyState === WebSocket.OPEN) ws.resume();
        });
    };

    const onBinary = (data: Buffer) => {
      if (!pending) return refuse(undefined, new FramehubError(ErrorCode.UnsupportedMessage, 'binary data must follow a job.image header that declares its size'));
      const image = pending;
      image.chunks.push(data);
      image.received += data.length;
      if (image.received > image.size) {
        pending = undefined;
        return refuse(image.requestId, new GenerationError(ErrorCode.InvalidBody, `image is longer than the declared size ${image.size}`));
      }
      if (image.received < image.size) return;
      pending = undefined;
      run(image.requestId, async () => {
        const { entry, image: stored } = await generations.addImage(image.jobId, Buffer.concat(image.chunks, image.size), parseImageFields(image.fields));
        return { job_id: image.jobId, event_id: entry.id, image_url: stored.url, imageIdx: stored.imageIdx, imageLength: stored.imageLength };
      });
    };

    const onText = (text: string) => {
      let message: Record<string, unknown>;
      try {
        message = parseJsonObject(text);
      } catch (error) {
        return refuse(undefined, error as GenerationError);
      }
      const { type, request_id: requestId, ...rest } = message;
      if (requestId !== undefined && typeof requestId !== 'string' && typeof requestId !== 'number') {
        return refuse(undefined, new FramehubError(ErrorCode.InvalidMessage, 'request_id must be a string or a number'));
      }
      if (pending) {
        const { size, received } = pending;
        pending = undefined;
        return refuse(requestId, new GenerationError(ErrorCode.InvalidBody, `image upload interrupted after ${received} of ${size} bytes by a text message`));
      }
      const jobId = () => parseJobIdParam(typeof rest['job_id'] === 'string' ? rest['job_id'] : '');
      const without = (key: string) => Object.fromEntries(Object.entries(rest).filter(([k]) => k !== key));
      switch (type) {
        case 'ping':
          return answer(requestId, { pong: Date.now() });
        case 'job.create':
          return run(requestId, async () => {
            const { job, entry } = await generations.createJob(parseJobInput(rest));
            return { job_id: job.id, event_id: entry.id };
          });
        case 'job.progress':
          return run(requestId, async () => {
            const { progress, stage } = parseProgress(without('job_id'));
            return { job_id: rest['job_id'], event_id: (await generations.progress(jobId(), progress, stage)).id };
          });
        case 'job.fail':
          return run(requestId, async () => {
            const { error, retryAllowed } = parseFailure(without('job_id'));
            return { job_id: rest['job_id'], event_id: (await generations.fail(jobId(), error, retryAllowed)).id };
          });
        case 'notification':
          return run(requestId, async () => {
            const { severity, message: text, actionUrl } = parseNotification(rest);
            return { event_id: (await generations.notify(severity, text, actionUrl)).id };
          });
        case 'job.image': {
          try {
            const id = jobId();
            const size = rest['size'];
            if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) throw new GenerationError(ErrorCode.InvalidBody, `size must be the image's length in bytes (got ${describe(size)})`);
            if (size > options.maxImageSize) throw new GenerationError(ErrorCode.BodyTooLarge, `image of ${size} bytes is over the limit of ${options.maxImageSize}`);
            const fields = Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'job_id' && k !== 'size'));
            parseImageFields(fields); // refuse bad fields before the bytes are sent
            pending = { requestId: requestId as RequestId, jobId: id, fields, size, chunks: [], received: 0 };
          } catch (error) {
            refuse(requestId as RequestId, refusalOf(error, log, 'producer job.image header'));
          }
          return;
        }
        case undefined:
          return refuse(requestId as RequestId, new FramehubError(ErrorCode.InvalidMessage, 'message needs a "type" field'));
        default:
          return refuse(requestId as RequestId, new FramehubError(ErrorCode.UnknownCommand, `unknown type ${describe(type)} (known: job.create, job.progress, job.image, job.fail, notification, ping)`));
      }
    };

    ws.on('message', function socketOnMessage(data: RawData, isBinary: boolean) {
      // A listener must not throw (the process would end): a bug costs this message an error answer.
      try {
        if (isBinary) return onBinary(toBuffer(data));
        if (!limiter.take()) return fail(new FramehubError(ErrorCode.RateLimited, 'too many messages; slow down'));
        onText(data.toString());
      } catch (error) {
        refuse(undefined, refusalOf(error, log, 'producer message'));
      }
    });
  };
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
