import { anyValue, badInt, badProgress, deepValue, invalidJson, notAnObject, protoKeys, weirdString, weirdStringJson } from './hostile-values.js';
import type { Prng } from './prng.js';
import { FUZZ_RECORDING_SECONDS } from './server-under-test.js';

/**
 * Hostile messages for the six WebSocket protocols, each with the answers the README's
 * bad-input table allows for it. Answers are labels: `error:<code>` (the route's error
 * message), `reply:<type>` (a normal answer), `close:<code>`, `none` (nothing; the fuzzer
 * checks that with a follow-up probe).
 */
export interface WsMessage {
  /** What kind of input this is, for the summary table. */
  kind: string;
  data: string | Buffer;
  binary: boolean;
  expect: readonly string[];
  /** A binary follow-up that belongs to this message (`job.image` header, then the bytes). */
  then?: Buffer;
}

export type WsRoute = 'stream' | 'video_feed' | 'video' | 'streaming' | 'ws' | 'producer';

export const WS_ROUTES: readonly WsRoute[] = ['stream', 'video_feed', 'video', 'streaming', 'ws', 'producer'];

/** Over `WS_MAX_PAYLOAD` (64 KiB): closed with 1009 by every route. */
export function oversize(r: Prng): WsMessage {
  const binary = r.chance(0.5);
  const size = 65536 + r.range(1, r.chance(0.2) ? 5 * 1024 * 1024 : 4096);
  return { kind: 'oversize', data: binary ? Buffer.alloc(size, 7) : `{"command":"${'x'.repeat(size)}"}`, binary, expect: ['close:1009'] };
}

function text(kind: string, data: string, expect: readonly string[]): WsMessage {
  return { kind, data, binary: false, expect };
}

function binary(r: Prng, expect: readonly string[]): WsMessage {
  return { kind: 'binary', data: r.bytes(r.range(0, 2048)), binary: true, expect };
}

/** Shapes every JSON route answers the same way: invalid JSON, not an object. */
function common(r: Prng, missingField: string): WsMessage | undefined {
  switch (r.int(6)) {
    case 0: return text('invalid-json', invalidJson(r), ['error:invalid_json']);
    case 1: return text('not-an-object', notAnObject(r), ['error:invalid_message']);
    case 2: return text(`missing-${missingField}`, protoKeys(r), ['error:invalid_message']);
    case 3: return text('deep-nested', `{"${r.pick(['data', 'payload_x', 'x'])}":${deepValue(r)}}`, ['error:invalid_message']);
    default: return undefined;
  }
}

/** `/stream/:id` (seeds/002). */
export function streamMessage(r: Prng): WsMessage {
  if (r.chance(0.3)) {
    const shared = common(r, 'command');
    if (shared) return shared;
  }
  switch (r.int(9)) {
    case 0: return text('unknown-command', `{"command":${r.chance(0.5) ? deepValue(r) : anyValue(r)}}`, ['error:unknown_command']);
    case 1: return text('unknown-command', `{"command":${weirdStringJson(r)}}`, ['error:unknown_command']);
    case 2: {
      const [key, bad] = r.pick([['fps', badInt(r, 1, 60)], ['quality', badInt(r, 10, 100)], ['format', r.pick(['"bmp"', '"JPEG2000"', weirdStringJson(r), deepValue(r), '1e308', 'null'])]] as const);
      return text('bad-option', `{"command":"update_options","options":{"${key}":${bad}}}`, ['error:invalid_options']);
    }
    case 3: return text('unknown-option', `{"command":"update_options","options":${protoKeys(r)}}`, ['error:invalid_options']);
    case 4: return text('wrong-shape', `{"command":"update_options","options":${r.pick(['[]', 'null', '"fps"', '1', deepJsonArray(r)])}}`, ['error:invalid_options']);
    case 5: return binary(r, ['error:unsupported_message']);
    // A valid change may still find the stream at its bound on distinct variants.
    case 6: return text('valid', `{"command":"update_options","options":{"fps":${r.range(1, 60)},"quality":${r.range(10, 100)}}}`, ['none', 'error:too_many_variants']);
    case 7: return text('unknown-option', `{"command":"update_options","options":{${JSON.stringify(weirdString(r))}:1}}`, ['error:invalid_options']);
    default: return text('screenshot', '{"command":"take_screenshot"}', ['reply:screenshot', 'error:no_frame']);
  }
}

function deepJsonArray(r: Prng): string {
  const depth = r.range(5000, 10000);
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/**
 * `/ws/video_feed`'s playback commands (docs/recording.md "Playback"): steered on a
 * `recording:<id>` stream (a valid one is answered by a status, which is no answer here), refused
 * with `playback_not_accepted` on any other.
 */
function playbackCommand(r: Prng, playback: boolean): WsMessage {
  const refusedElsewhere = (expect: string[]) => (playback ? expect : ['error:playback_not_accepted']);
  switch (r.int(4)) {
    case 0: return text('playback-valid', r.pick([
      `{"type":"command","action":"seek","value":${(r.int(FUZZ_RECORDING_SECONDS * 100) / 100).toFixed(2)}}`,
      `{"type":"command","action":"speed","value":${r.pick([0.25, 0.5, 1, 2, 8])}}`,
      '{"type":"command","action":"pause"}', '{"type":"command","action":"play"}',
    ]), refusedElsewhere(['none']));
    case 1: return text('playback-bad-seek', `{"type":"command","action":"seek","value":${r.pick(['-1', '1e308', '"1"', 'null', 'true', '[]', String(FUZZ_RECORDING_SECONDS + 100), deepValue(r)])}}`,
      // A malformed value is refused by the parser, whatever the stream; a seek past the end only by a
      // playback, once it has read the recording's duration (a seek racing its first start is let through).
      ['error:invalid_options', ...(playback ? ['none'] : ['error:playback_not_accepted'])]);
    case 2: return text('playback-bad-speed', `{"type":"command","action":"speed","value":${r.pick(['0', '0.24', '8.5', '-2', '1e308', '"2"', 'null', weirdStringJson(r)])}}`, ['error:invalid_options']);
    default: return text('playback-extra', `{"type":"command","action":"${r.pick(['pause', 'play'])}","value":${anyValue(r)}}`, refusedElsewhere(['none']));
  }
}

/** `/ws/video_feed` (seeds/004); `playback` when the socket watches a `recording:<id>` stream. */
export function videoFeedMessage(r: Prng, playback = false): WsMessage {
  if (r.chance(0.3)) {
    const shared = common(r, 'type');
    if (shared) return shared;
  }
  if (r.chance(playback ? 0.5 : 0.1)) return playbackCommand(r, playback);
  switch (r.int(8)) {
    case 0: return text('unknown-type', `{"type":${r.chance(0.5) ? deepValue(r) : weirdStringJson(r)}}`, ['error:unknown_command']);
    case 1: return text('unknown-action', `{"type":"command","action":${anyValue(r)}}`, ['error:unknown_command']);
    case 2: return text('bad-option', `{"type":"command","action":"set_quality","value":${badInt(r, 10, 100)}}`, ['error:invalid_options']);
    case 3: {
      const [key, bad] = r.pick([
        ['quality', badInt(r, 10, 100)], ['fps', badInt(r, 1, 60)], ['format', weirdStringJson(r)], ['osd', r.pick(['"yes"', '2', 'null', deepValue(r)])],
        ['resize', r.pick(['true', '[1]', '[16,16,16]', `[${badInt(r, 16, 7680)},100]`, `{"width":${badInt(r, 16, 7680)},"height":100}`, '"640x480"', deepValue(r)])],
      ] as const);
      return text('bad-option', `{"type":"config","${key}":${bad}}`, ['error:invalid_options']);
    }
    case 4: return text('unknown-option', `{"type":"config",${protoKeys(r).slice(1)}`, ['error:invalid_options']);
    case 5: return binary(r, ['error:unsupported_message']);
    case 6: return text('valid', `{"type":"config","quality":${r.range(10, 100)},"resize":[${r.range(16, 400)},${r.range(16, 300)}]}`, ['none', 'error:too_many_variants']);
    default: return text('valid', `{"type":"command","action":"set_quality","value":${r.range(10, 100)}}`, ['none', 'error:too_many_variants']);
  }
}

/** `/video/:id` (H.264 units out, one `set_tier` command in). */
export function videoMessage(r: Prng): WsMessage {
  if (r.chance(0.3)) {
    const shared = common(r, 'type');
    if (shared) return shared;
  }
  switch (r.int(5)) {
    case 0: return text('unknown-type', `{"type":${r.chance(0.5) ? deepValue(r) : weirdStringJson(r)}}`, ['error:unknown_command']);
    case 1: return text('bad-tier', `{"type":"set_tier","tier":${r.chance(0.5) ? anyValue(r) : weirdStringJson(r)}}`, ['error:invalid_options']);
    case 2: return binary(r, ['error:unsupported_message']);
    default: return text('valid', `{"type":"set_tier","tier":"${r.pick(['auto', '720p', '480p', '360p'])}"}`, ['none']);
  }
}

/** `/ws/streaming` (seeds/000). */
export function streamingMessage(r: Prng): WsMessage {
  if (r.chance(0.4)) {
    const shared = common(r, 'type');
    if (shared) return shared;
  }
  switch (r.int(6)) {
    case 0: return text('unknown-type', `{"type":${r.chance(0.5) ? deepValue(r) : weirdStringJson(r)}}`, ['error:unknown_command']);
    case 1: return text('bad-mode', `{"type":"subscribe","mode":${r.pick([weirdStringJson(r), deepValue(r), '1e308', '"none"'])}}`, ['error:invalid_message']);
    case 2: return binary(r, ['error:unsupported_message']);
    case 3: return text('valid', '{"type":"ping"}', ['reply:pong']);
    case 4: return text('valid', '{"type":"subscribe","mode":"all"}', ['reply:subscribed']);
    default: return text('proto-keys', `{"type":"ping",${protoKeys(r).slice(1)}`, ['reply:pong']);
  }
}

/** `/ws` (seeds/001). */
export function eventsMessage(r: Prng): WsMessage {
  if (r.chance(0.4)) {
    const shared = common(r, 'type');
    if (shared) return shared;
  }
  switch (r.int(6)) {
    case 0: return text('unknown-type', `{"type":${r.chance(0.5) ? deepValue(r) : weirdStringJson(r)}}`, ['error:unknown_command']);
    case 1: return text('bad-payload', `{"type":"heartbeat","payload":${r.pick(['[]', '1', '"x"', 'true', deepJsonArray(r)])}}`, ['error:invalid_message']);
    case 2: return binary(r, ['error:unsupported_message']);
    case 3: return text('valid', '{"type":"ping"}', ['reply:pong']);
    case 4: return text('valid', `{"type":"heartbeat","payload":${protoKeys(r)},"timestamp":${anyValue(r)}}`, ['reply:heartbeat.ack']);
    default: return text('deep-payload', `{"type":"heartbeat","payload":{"x":${deepValue(r)}}}`, ['reply:heartbeat.ack']);
  }
}

/** `/ws/producer`: the publish API's commands, each answered with `ack` or `error`; `tag` is unique per message. */
export function producerMessage(r: Prng, tag: string): WsMessage {
  if (r.chance(0.3)) {
    const shared = common(r, 'type');
    if (shared) return shared;
  }
  const missingJob = `"fuzz-missing-${tag}"`;
  switch (r.int(12)) {
    case 0: return text('unknown-type', `{"type":${r.chance(0.5) ? deepValue(r) : weirdStringJson(r)}}`, ['error:unknown_command']);
    case 1: return text('bad-request-id', `{"type":"ping","request_id":${r.pick(['{}', '[]', 'true', 'null', deepValue(r)])}}`, ['error:invalid_message']);
    case 2: return text('valid', `{"type":"ping","request_id":${r.chance(0.5) ? weirdStringJson(r) : '1e308'}}`, ['reply:ack']);
    case 3: return text('bad-body', `{"type":"job.create","prompt":${r.pick(['1', 'null', '[]', deepValue(r), `"${'p'.repeat(20_001)}"`])}}`, ['error:invalid_body']);
    case 4: return text('unknown-field', `{"type":"job.create","prompt":"x",${protoKeys(r).slice(1)}`, ['error:invalid_body']);
    case 5: return text('valid', `{"type":"job.create","prompt":${weirdStringJson(r)},"job_id":"fuzz-${tag}","seed":"${'9'.repeat(r.range(1, 40))}"}`, ['reply:ack']);
    case 6: return text('bad-body', `{"type":"job.progress","job_id":${missingJob},"progress":${badProgress(r)}}`, ['error:invalid_body']);
    case 7: return text('unknown-job', `{"type":"job.progress","job_id":${missingJob},"progress":${r.range(0, 100)}}`, ['error:job_not_found']);
    case 8: return text('bad-body', `{"type":"notification","severity":${r.pick(['"fatal"', weirdStringJson(r), deepValue(r)])},"message":"m"}`, ['error:invalid_body']);
    case 9: return text('bad-size', `{"type":"job.image","job_id":${missingJob},"size":${r.pick(['0', '-1', '1.5', '"10"', 'null', '1e308', deepValue(r)])}}`, ['error:invalid_body', 'error:body_too_large']);
    case 10: {
      const size = r.range(1, 3000);
      return { kind: 'image-unknown-job', data: `{"type":"job.image","job_id":${missingJob},"size":${size}}`, binary: false, then: r.bytes(size), expect: ['error:job_not_found'] };
    }
    default: return binary(r, ['error:unsupported_message']);
  }
}

/** The probe that follows a message expected to get no answer: its own answer is certain. */
export const PROBE: WsMessage = { kind: 'probe', data: '{', binary: false, expect: ['error:invalid_json'] };
