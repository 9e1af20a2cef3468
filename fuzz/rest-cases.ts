import { target, type FuzzContext } from './context.js';
import { anyValue, badInt, badProgress, deepValue, invalidJson, jsonDepth, MAX_JSON_DEPTH, notAnObject, protoKeys, weirdString, weirdStringJson } from './hostile-values.js';
import type { Sent } from './oracle.js';
import type { Prng } from './prng.js';
import { badTokens, validToken } from './jwt.js';
import { FUZZ_RECORDING_ID, FUZZ_RECORDING_SECONDS, type ServerUnderTest } from './server-under-test.js';

/**
 * The HTTP routes: sessions, streams, metrics, windows, the gallery and the publish API, with
 * hostile bodies, queries, paths and content types. Every answer is a status the README
 * documents for the route, in the route's error shape; never a 500.
 */

type Family = 'session' | 'publish' | 'gallery' | 'recording' | 'plain';

interface RestRequest {
  route: string;
  kind: string;
  family: Family;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Labels: `<status>` (sessions, plain) or `<status> <code>` (publish, gallery errors). */
  expect: string[];
  server?: ServerUnderTest;
}

const JSON_TYPE = { 'content-type': 'application/json' };
/** A tiny valid PNG (1x1), for images that must be stored. */
const PNG_1X1 = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

/** Percent-encodes text, lone surrogates included (as U+FFFD, which is what goes on the wire anyway). */
function enc(text: string): string {
  return encodeURIComponent(Buffer.from(text).toString());
}

/** A JSON body no route accepts: invalid, deep, the wrong shape. */
function badJsonBody(r: Prng): { kind: string; body: string; invalidJson: boolean } {
  switch (r.int(4)) {
    case 0: return { kind: 'invalid-json', body: invalidJson(r), invalidJson: true };
    case 1: return { kind: 'deep-nested', body: r.chance(0.5) ? deepValue(r) : `{"url":${deepValue(r)}}`, invalidJson: false };
    case 2: return { kind: 'not-an-object', body: notAnObject(r), invalidJson: false };
    // With a bad width too: a body with only unknown keys would be a valid session create.
    default: return { kind: 'proto-keys', body: `{"width":1,${protoKeys(r).slice(1)}`, invalidJson: false };
  }
}

function sessionRequest(ctx: FuzzContext, r: Prng): RestRequest {
  const base = { route: '', family: 'session' as const, headers: JSON_TYPE };
  const unknownId = r.chance(0.5) ? enc(weirdString(r).slice(0, 200)) : `missing-${r.int(10_000)}`;
  switch (r.int(8)) {
    case 0: {
      const bad = badJsonBody(r);
      // An empty body with a JSON content type is Fastify's 400 too.
      return { ...base, route: 'POST /api/session/create', kind: bad.kind, method: 'POST', path: '/api/session/create', body: bad.body, expect: bad.body.trim() === '' ? ['400'] : ['400'] };
    }
    case 1: {
      const field = r.pick([['width', 200, 3840], ['height', 200, 2160], ['quality', 10, 100], ['fps', 1, 60]] as const);
      const body = `{"session_id":${r.chance(0.3) ? weirdStringJson(r) : `"fuzz-${r.int(1e6)}"`},"${field[0]}":${badInt(r, field[1], field[2])}}`;
      return { ...base, route: 'POST /api/session/create', kind: 'bad-field', method: 'POST', path: '/api/session/create', body, expect: ['400', '429'] };
    }
    case 2: {
      const real = ctx.sessionId && r.chance(0.5);
      const id = real ? ctx.sessionId! : unknownId;
      const body = r.pick([
        () => `{"url":${r.pick(['"javascript:alert(1)"', '"file:///etc/passwd"', '"ftp://example.com/"', '"data:text/html,x"', '"http://[::1"', '"//example.com"', weirdStringJson(r), '1e308', 'null', '[]'])}}`,
        () => `{"url":"http://example.com/${'a'.repeat(8200)}"}`,
        () => badJsonBody(r).body,
      ])();
      return { ...base, route: 'POST /api/session/:id/load', kind: real ? 'bad-url' : 'unknown-session', method: 'POST', path: `/api/session/${id}/load`, body, expect: real ? ['400'] : ['404', '400'] };
    }
    case 3: {
      const real = ctx.sessionId && r.chance(0.5);
      const id = real ? ctx.sessionId! : unknownId;
      const body = r.pick([
        () => `{"type":${r.pick(['"tap"', weirdStringJson(r), 'null', deepValue(r)])}}`,
        () => `{"type":"click","x":${badInt(r, 0, 199)},"y":5}`,
        () => `{"type":"scroll","deltaX":${r.pick(['10001', '-1e308', '"x"'])},"deltaY":0}`,
        () => `{"type":"text","text":"${'é'.repeat(501)}"}`,
        // Phones and tablets: drags, paste, resize (docs/sessions.md).
        () => `{"type":"${r.pick(['down', 'up'])}","x":${badInt(r, 0, 199)},"y":5}`,
        () => `{"type":"paste","text":${r.chance(0.5) ? `"${'x'.repeat(10_001)}"` : r.pick(['5', 'null', '[]'])}}`,
        () => `{"type":"resize","width":${badInt(r, 200, 3840)},"height":300}`,
        () => badJsonBody(r).body,
      ])();
      return { ...base, route: 'POST /api/session/:id/input', kind: real ? 'bad-input' : 'unknown-session', method: 'POST', path: `/api/session/${id}/input`, body, expect: real ? ['400', '429'] : ['404', '400'] };
    }
    case 4: {
      const what = r.pick(['frame', 'frame/data', 'viewer', 'keepalive', 'clipboard']);
      return { ...base, route: `${what === 'keepalive' ? 'POST' : 'GET'} /api/session/:id/${what}`, kind: 'unknown-session', method: what === 'keepalive' ? 'POST' : 'GET', path: `/api/session/${unknownId}/${what}`, headers: {}, expect: ['404'] };
    }
    case 5: return { ...base, route: 'DELETE /api/session/:id', kind: 'unknown-session', method: 'DELETE', path: `/api/session/${unknownId}`, headers: {}, expect: ['404'] };
    case 6: return { ...base, route: 'GET /api/sessions', kind: 'query-junk', method: 'GET', path: `/api/sessions?${enc(weirdString(r))}=${enc(weirdString(r))}`, headers: {}, expect: ['200'] };
    default: {
      // README: a body whose Content-Type is not application/json is 415 on the session routes.
      const type = r.pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'multipart/form-data', 'application/xml']);
      const expect = type.startsWith('application/json') ? ['400', '415'] : ['415'];
      return { ...base, route: 'POST /api/session/create', kind: 'wrong-content-type', method: 'POST', path: '/api/session/create', headers: { 'content-type': type }, body: `{"width":${badInt(r, 200, 3840)}}`, expect };
    }
  }
}

/**
 * Control and presence of a session (docs/sessions.md, Control, Presence). The main server is
 * open (every request is admin's), and its fuzz session is shared by every case: a request is
 * granted or waits (429 past 32 waiting), a take always succeeds, a grant or deny names nobody
 * who asked (404), a release without the holder header is 409, an unknown header key 404.
 */
function controlRequest(ctx: FuzzContext, r: Prng): RestRequest {
  const base = { route: '', family: 'session' as const, headers: JSON_TYPE };
  const actions = ['request', 'take', 'release', 'grant', 'deny'];
  if (!ctx.sessionId || r.chance(0.2)) {
    const unknownId = r.chance(0.5) ? enc(weirdString(r).slice(0, 200)) : `missing-${r.int(10_000)}`;
    const what = r.pick(['presence', 'control', ...actions.map((a) => `control/${a}`)]);
    const method = what === 'presence' || what === 'control' ? 'GET' : 'POST';
    return { ...base, route: `${method} /api/session/:id/${what}`, kind: 'unknown-session', method, path: `/api/session/${unknownId}/${what}`, headers: method === 'POST' ? JSON_TYPE : {}, ...(method === 'POST' && { body: '{"id":"x"}' }), expect: ['404', '400'] };
  }
  const id = ctx.sessionId;
  const route = (what: string) => `${what === 'presence' || what === 'control' ? 'GET' : 'POST'} /api/session/:id/${what}`;
  const post = (what: string, kind: string, body: string | undefined, expect: string[], headers: Record<string, string> = body === undefined ? {} : JSON_TYPE): RestRequest =>
    ({ ...base, route: route(`control/${what}`), kind, method: 'POST', path: `/api/session/${id}/control/${what}`, headers, ...(body !== undefined && { body }), expect });
  const bogusKey = { 'x-control-holder': r.pick(['nope', 'x'.repeat(200), weirdString(r).replace(/[^\x21-\x7e]/g, 'x') || 'x']) };
  switch (r.int(9)) {
    case 0: {
      const what = r.pick(['presence', 'control']);
      return { ...base, route: route(what), kind: 'valid', method: 'GET', path: `/api/session/${id}/${what}${r.chance(0.3) ? `?${enc(weirdString(r).slice(0, 100))}=1` : ''}`, headers: {}, expect: ['200'] };
    }
    case 1: {
      if (r.chance(0.2)) {
        // A weird string may happen to be a well-formed id nobody has: 404.
        return post(r.pick(['grant', 'deny']), 'weird-id', `{"id":${weirdStringJson(r)}}`, ['400', '404']);
      }
      const body = r.pick(['{"id":5}', '{"id":""}', '{"id":"../x"}', `{"id":"${'x'.repeat(33)}"}`, '{}', '[]', 'null', '"x"', badJsonBody(r).body]);
      return post(r.pick(['grant', 'deny']), 'bad-body', body, ['400']);
    }
    case 2: return post(r.pick(['grant', 'deny']), 'nobody-asked', `{"id":"nobody${r.int(1e6)}"}`, ['404']);
    case 3: return post(r.pick(['request', 'take']), 'bad-name', r.pick(['{"name":""}', '{"name":5}', `{"name":"${'x'.repeat(65)}"}`, '{"name":"a\\u0000b"}', '{"name":"a\\u202eb"}', '{"name":null}', '[1]']), ['400']);
    case 4: return post('release', 'no-holder', undefined, ['409']);
    case 5: return post(r.pick(['request', 'take', 'release']), 'unknown-holder', undefined, ['404'], bogusKey);
    case 6: return post('request', 'valid', r.chance(0.5) ? undefined : '{"name":"fuzz script"}', ['200', '429']);
    case 7: return post('take', 'valid', undefined, ['200']);
    default: return post(r.pick(actions), 'wrong-content-type', '{}', ['415'], { 'content-type': r.pick(['text/plain', 'application/xml', 'multipart/form-data']) });
  }
}

/**
 * A client posing as a cluster node (docs/cluster.md): the internal participant routes, with a
 * forged node id and secret and a hostile body, are an unknown route's 404 (the fuzzed servers
 * are single nodes, where they do not exist; a cluster node answers a call without its secret
 * the same); a forged participant header on input is ignored, the input answered as any other.
 * test/cluster-sessions.test.ts sends hostile bodies with the real secret, as a node would.
 */
function clusterRequest(ctx: FuzzContext, r: Prng): RestRequest {
  const header = () => weirdString(r).replace(/[^\x21-\x7e]/g, 'x').slice(0, 200) || 'x';
  const nodeHeaders = { 'x-framehub-forwarded': header(), 'x-framehub-cluster-secret': header(), 'x-framehub-participant': header() };
  const forged = { ...JSON_TYPE, ...nodeHeaders };
  const id = ctx.sessionId && r.chance(0.5) ? ctx.sessionId : enc(weirdString(r).slice(0, 100)) || 'x';
  if (ctx.sessionId && r.chance(0.3)) {
    return { route: 'POST /api/session/:id/input', family: 'session', kind: 'forged-participant', method: 'POST', path: `/api/session/${ctx.sessionId}/input`, headers: forged, body: '{"type":"click","x":5,"y":5}', expect: ['200', '409', '429'] };
  }
  const suffix = r.pick(['', `/${enc(weirdString(r).slice(0, 40)) || 'p'}`, '/p/control', '/p/pointer']);
  const method = suffix === '' || suffix.endsWith('control') || suffix.endsWith('pointer') ? 'POST' : 'DELETE';
  const body = r.pick([() => badJsonBody(r).body, () => `{"socket":${weirdStringJson(r)},"name":${weirdStringJson(r)}}`, () => `{"event":${weirdStringJson(r)},"payload":${deepValue(r)}}`, () => `{"x":${badInt(r, 0, 320)},"y":1e308}`])();
  // 400: a body too deep, or a JSON content type with no body, is refused before any route is looked for.
  return { route: `${method} /api/session/:id/participants`, family: 'plain', kind: 'forged-node', method, path: `/api/session/${id}/participants${suffix}`, headers: method === 'POST' ? forged : nodeHeaders, ...(method === 'POST' && { body }), expect: ['404', '400'] };
}

function plainRequest(r: Prng): RestRequest {
  const junk = () => `${enc(weirdString(r).slice(0, 300))}=${enc(weirdString(r).slice(0, 300))}`;
  switch (r.int(7)) {
    case 0: return { route: 'GET /api/streams', family: 'plain', kind: 'query-junk', method: 'GET', path: `/api/streams?${junk()}`, headers: {}, expect: ['200'] };
    case 1: return { route: 'GET /healthz', family: 'plain', kind: 'query-junk', method: 'GET', path: `/healthz?${junk()}`, headers: {}, expect: ['200'] };
    case 2: return { route: 'GET /metrics', family: 'plain', kind: 'query-junk', method: 'GET', path: `/metrics?${junk()}`, headers: { accept: weirdString(r).replace(/[^\x20-\x7e]/g, '') || '*/*' }, expect: ['200'] };
    case 3: return { route: 'GET /api/windows', family: 'plain', kind: 'no-screen', method: 'GET', path: `/api/windows?${junk()}`, headers: {}, expect: ['503'] };
    case 4: {
      const [limit, offset] = [r.pick(['0', '1001', '-1', '1.5', 'abc', '%C3%A9', '1e4', '', '١٠', '9'.repeat(400)]), r.pick(['-1', 'x', '0.5', '%00'])];
      return { route: 'GET /api/images', family: 'gallery', kind: 'bad-query', method: 'GET', path: r.chance(0.5) ? `/api/images?limit=${limit}` : `/api/images?offset=${offset}`, headers: {}, expect: ['400 invalid_query'] };
    }
    case 5: {
      const name = r.pick(['..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2fpackage.json', enc(weirdString(r).slice(0, 300)), 'nope.png', '.', '%00.png', 'a'.repeat(2000)]);
      return { route: 'GET /images/:name', family: 'gallery', kind: 'unknown-image', method: 'GET', path: `/images/${name}`, headers: {}, expect: ['404 image_not_found'] };
    }
    default: {
      const path = r.pick(['/nope', '/api/nope', `/${enc(weirdString(r).slice(0, 100))}`, '/images/', '/api/session/', '/%ZZ', '/api/%ZZ']);
      return { route: 'unknown path', family: 'plain', kind: 'unknown-path', method: r.pick(['GET', 'POST', 'PUT', 'PATCH', 'OPTIONS', 'DELETE']), path, headers: {}, expect: path.includes('%ZZ') ? ['400', '404'] : ['404', '204'] };
    }
  }
}

/** A well-formed recording id (RECORDING_ID) that no recording has: the fuzzer never starts one. */
function unknownRecordingId(r: Prng): string {
  return `20000101T000000Z-${r.int(0x1_0000_0000).toString(16).padStart(8, '0')}`;
}

/**
 * The recording routes (docs/recording.md) with ids that are not recording ids, ids no
 * recording has, streams nothing resolves, junk bodies and Range headers. Stream ids all start
 * with `missing-`: the fuzzer never records (and never fills the disk).
 */
function recordingRequest(r: Prng): RestRequest {
  const base = { family: 'recording' as const, headers: {} };
  // Never a recording id: those are digits, `T`, `Z`, `-` and lowercase hex only.
  const badId = () => r.pick(['..%2F..%2Fetc%2Fpasswd', '%2e%2e%2fx.mp4', '..%5Cx.mp4', 'x.mp4', `${enc(weirdString(r).slice(0, 300))}!`, '%00.mp4', 'a'.repeat(2000), '20000101T000000Z-0000000G.mp4', '20000101T000000Z-00000000.MP4']);
  const stream = () => `missing-${enc(weirdString(r).slice(0, 100))}`;
  switch (r.int(8)) {
    case 0: return { ...base, route: 'GET /api/recordings/:id.mp4', kind: 'bad-id', method: 'GET', path: `/api/recordings/${badId()}`, expect: ['400 invalid_recording_id'] };
    case 1: {
      const range = r.pick(['bytes=0-1', 'bytes=-1', 'bytes=9-', 'bytes=x', 'items=0-1', 'bytes=1-0', 'bytes=0-1,2-3', weirdString(r).replace(/[^\x20-\x7e]/g, '')]);
      return { ...base, route: 'GET /api/recordings/:id.mp4', kind: 'unknown-id', method: 'GET', path: `/api/recordings/${unknownRecordingId(r)}.mp4`, headers: { range }, expect: ['404 recording_not_found'] };
    }
    case 2: return r.chance(0.5)
      ? { ...base, route: 'DELETE /api/recordings/:id', kind: 'bad-id', method: 'DELETE', path: `/api/recordings/${badId()}`, expect: ['400 invalid_recording_id'] }
      : { ...base, route: 'DELETE /api/recordings/:id', kind: 'unknown-id', method: 'DELETE', path: `/api/recordings/${unknownRecordingId(r)}`, expect: ['404 recording_not_found'] };
    case 3: return { ...base, route: 'POST /api/streams/:id/record', kind: 'unknown-stream', method: 'POST', path: `/api/streams/${stream()}/record`, expect: ['404 stream_not_found'] };
    case 4: {
      // The route reads no body; one that is sent is still parsed as its Content-Type says.
      const [type, body, expect] = r.pick<[string, string, string[]]>([
        ['application/json', invalidJson(r), ['400 invalid_json']],
        ['application/json', deepValue(r), ['400 invalid_json', '404 stream_not_found']],
        ['application/json', `{"prerecord":${anyValue(r)}}`, ['404 stream_not_found', '400 invalid_json']],
        ['text/plain', weirdString(r), ['404 stream_not_found']],
        [r.pick(['application/xml', 'image/png', 'multipart/form-data']), 'x', ['415 unsupported_media_type', '400 invalid_body']],
      ]);
      return { ...base, route: 'POST /api/streams/:id/record', kind: 'junk-body', method: 'POST', path: `/api/streams/${stream()}/record`, headers: { 'content-type': type }, body, expect };
    }
    case 6: return r.chance(0.5)
      ? { ...base, route: 'GET /api/recordings/:id/events', kind: 'bad-id', method: 'GET', path: `/api/recordings/${badId()}/events`, expect: ['400 invalid_recording_id'] }
      : { ...base, route: 'GET /api/recordings/:id/events', kind: 'unknown-id', method: 'GET', path: `/api/recordings/${unknownRecordingId(r)}/events`, expect: ['404 recording_not_found'] };
    case 5: return { ...base, route: 'DELETE /api/streams/:id/record', kind: 'not-recording', method: 'DELETE', path: `/api/streams/${stream()}/record`, expect: ['404 not_recording'] };
    default: return { ...base, route: 'GET /api/recordings', kind: 'query-junk', method: 'GET', path: `/api/recordings?${enc(weirdString(r).slice(0, 300))}=${enc(weirdString(r).slice(0, 300))}`, expect: ['200'] };
  }
}

/**
 * `GET`/`POST /api/streams/:id/playback` (docs/recording.md "Playback"): the fuzz recording's
 * playback steered with valid and hostile bodies, ids that are no recording's, a stream that
 * is no playback.
 */
function playbackRequest(r: Prng): RestRequest {
  const base = { family: 'recording' as const, headers: {} };
  const path = `/api/streams/recording:${FUZZ_RECORDING_ID}${r.chance(0.2) ? `:fuzz${r.int(3)}` : ''}/playback`;
  const post = (kind: string, body: string, expect: string[]): RestRequest => ({ ...base, route: 'POST /api/streams/:id/playback', kind, method: 'POST', path, headers: JSON_TYPE, body, expect });
  switch (r.int(8)) {
    case 0: return { ...base, route: 'GET /api/streams/:id/playback', kind: 'valid', method: 'GET', path, expect: ['200'] };
    case 1: {
      const body = r.pick([
        `{"seek":${(r.int(FUZZ_RECORDING_SECONDS * 100) / 100).toFixed(2)}}`, `{"speed":${r.pick([0.25, 0.5, 1, 1.5, 2, 8])}}`, `{"paused":${r.chance(0.5)}}`,
        `{"seek":${r.int(FUZZ_RECORDING_SECONDS)},"speed":${r.pick([0.25, 4])},"paused":${r.chance(0.5)}}`,
      ]);
      return post('valid', body, ['200']);
    }
    case 2: {
      const [key, bad] = r.pick([
        ['seek', r.pick(['-1', '-0.001', '1e308', '"1"', 'null', 'true', '[]', '{}', String(FUZZ_RECORDING_SECONDS + 100), deepValue(r)])],
        ['speed', r.pick(['0', '0.2', '8.01', '-1', '1e308', '"2"', 'null', 'false', weirdStringJson(r)])],
        ['paused', r.pick(['1', '0', '"true"', 'null', '[]', weirdStringJson(r)])],
      ] as const);
      // A seek past the end passes the body's check and is refused by the playback: invalid_options.
      return post('bad-field', `{"${key}":${bad}}`, ['400 invalid_body', '400 invalid_options', '400 invalid_json']);
    }
    case 3: return post('bad-body', r.pick([invalidJson(r), notAnObject(r), protoKeys(r), '{}', `{${JSON.stringify(weirdString(r))}:1}`, deepValue(r)]), ['400 invalid_body', '400 invalid_json']);
    case 4: return { ...base, route: 'POST /api/streams/:id/playback', kind: 'wrong-content-type', method: 'POST', path, headers: { 'content-type': r.pick(['text/plain', 'application/xml', 'image/png']) }, body: '{"paused":true}', expect: ['415 unsupported_media_type', '400 invalid_body'] };
    case 5: {
      // Ids no recording has, or that are no recording id at all.
      const id = r.pick([`recording:20000101T000000Z-${r.int(0x1_0000_0000).toString(16).padStart(8, '0')}`, 'recording:', `recording:${enc(weirdString(r).slice(0, 100))}`, `recording:${FUZZ_RECORDING_ID}:${'x'.repeat(40)}`, `recording:..%2F${FUZZ_RECORDING_ID}`]);
      return { ...base, route: 'POST /api/streams/:id/playback', kind: 'unknown-id', method: 'POST', path: `/api/streams/${id}/playback`, headers: JSON_TYPE, body: '{"paused":true}', expect: ['404 stream_not_found'] };
    }
    default: return { ...base, route: 'POST /api/streams/:id/playback', kind: 'not-a-playback', method: 'POST', path: `/api/streams/${r.pick(['demo', '0'])}/playback`, headers: JSON_TYPE, body: '{"paused":true}', expect: ['409 playback_not_accepted'] };
  }
}

/** Every REST route of the access table, on the auth server, with its scope and without it. */
const SCOPED_ROUTES: readonly (readonly [Family, string, string, string])[] = [
  ['plain', 'GET', '/api/streams', 'view'],
  ['plain', 'GET', '/metrics', 'admin'],
  ['plain', 'GET', '/api/windows', 'view'],
  ['session', 'GET', '/api/sessions', 'control'],
  ['session', 'POST', '/api/session/create', 'control'],
  ['session', 'POST', '/api/session/fuzz-acl/input', 'control:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/clipboard', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/load', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/keepalive', 'control:fuzz-acl'],
  ['session', 'DELETE', '/api/session/fuzz-acl', 'control:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/frame', 'view:session:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/frame/data', 'view:session:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/presence', 'view:session:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/control', 'view:session:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/control/request', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/control/take', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/control/release', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/control/grant', 'control:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/control/deny', 'control:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl', 'view:session:fuzz-acl'],
  ['session', 'POST', '/api/session/fuzz-acl/share', 'control:fuzz-acl'],
  ['session', 'GET', '/api/session/fuzz-acl/shares', 'control:fuzz-acl'],
  ['session', 'DELETE', '/api/session/fuzz-acl/shares/nope', 'control:fuzz-acl'],
  ['recording', 'POST', '/api/streams/missing-acl/share', 'admin'],
  ['recording', 'GET', '/api/streams/missing-acl/shares', 'admin'],
  ['recording', 'DELETE', '/api/streams/missing-acl/shares/nope', 'admin'],
  ['recording', 'POST', '/api/streams/session:fuzz-acl/share', 'control:fuzz-acl'],
  ['gallery', 'GET', '/api/images', 'view'],
  ['gallery', 'GET', '/images/nope.png', 'view'],
  ['recording', 'GET', '/api/recordings', 'view'],
  ['recording', 'POST', '/api/streams/missing-acl/record', 'admin'],
  ['recording', 'DELETE', '/api/streams/missing-acl/record', 'admin'],
  ['recording', 'POST', '/api/streams/session:fuzz-acl/record', 'control:fuzz-acl'],
  ['recording', 'GET', `/api/streams/recording:${FUZZ_RECORDING_ID}/playback`, 'view:fuzzrec'],
  ['recording', 'POST', `/api/streams/recording:${FUZZ_RECORDING_ID}/playback`, 'view:fuzzrec'],
];

/**
 * access.ts on REST: a missing or bad token is 401 with its code, a valid one without the
 * route's scope 403 `scope_missing`, in the route family's own shape (sessions `{success:false}`).
 */
function accessRequest(ctx: FuzzContext, r: Prng): RestRequest {
  const [family, method, path, scope] = r.pick(SCOPED_ROUTES);
  const route = `${method} ${path.replace('fuzz-acl', ':id')}`;
  const status = (code: string, http: number) => (family === 'plain' || family === 'session' ? String(http) : `${http} ${code}`);
  // create's body is refused (width 1) before a browser would start: the fuzzer tests the gate, not Chromium.
  const body = method === 'POST' ? (path.endsWith('/create') ? '{"width":1}' : '{}') : undefined;
  const headers: Record<string, string> = method === 'POST' ? { ...JSON_TYPE } : {};
  const server = ctx.auth;
  switch (r.int(4)) {
    case 0: return { route, family, kind: 'no-token', method, path, headers, ...(body && { body }), expect: [status('token_missing', 401)], server };
    case 1: {
      const [code, token] = r.pick(badTokens(ctx.jwtSecret));
      const carried = r.chance(0.5) ? { headers: { ...headers, authorization: `Bearer ${token.replace(/[^\x21-\x7e]/g, 'x')}` }, path } : { headers, path: `${path}?token=${encodeURIComponent(token)}` };
      // A header of another shape than `Bearer <one word>` is no token at all.
      const expect = [status(code, 401), status('token_missing', 401), status('token_invalid', 401)];
      return { route, family, kind: 'bad-token', method, ...carried, ...(body && { body }), expect, server };
    }
    case 2: {
      // A scope that is near the one needed but is not it.
      const near = r.pick(['view:demo', 'view:session:other', 'control:other', 'publish', 'generations:all', scope.startsWith('view') ? 'view:0' : 'view']);
      const token = validToken(ctx.jwtSecret, 'fuzz', near);
      return { route, family, kind: 'wrong-scope', method, path, headers: { ...headers, authorization: `Bearer ${token}` }, ...(body && { body }), expect: [status('scope_missing', 403)], server };
    }
    default: {
      // The scope it needs: past the gate, the route's own answers (no such session or image, no screen, a body to check).
      const token = validToken(ctx.jwtSecret, 'fuzz', scope);
      return { route, family, kind: 'scoped', method, path, headers: { ...headers, authorization: `Bearer ${token}` }, ...(body && { body }), expect: ['200', '201', '400', '400 invalid_body', '404', '404 image_not_found', '404 stream_not_found', '404 not_recording', '429', '503'], server };
    }
  }
}

function publishRequest(ctx: FuzzContext, r: Prng, jobId: string): RestRequest {
  const auth = { authorization: `Bearer ${ctx.producerToken}` };
  const json = { ...auth, ...JSON_TYPE };
  const base = { family: 'publish' as const };
  switch (r.int(11)) {
    case 0: {
      const bad = badJsonBody(r);
      // Prototype keys are refused by Fastify's JSON parser (invalid_json) or by the schema (invalid_body): both documented 400s.
      const expect = bad.invalidJson ? ['400 invalid_json'] : bad.kind === 'proto-keys' ? ['400 invalid_body', '400 invalid_json'] : ['400 invalid_body'];
      return { ...base, route: 'POST /api/generations', kind: bad.kind, method: 'POST', path: '/api/generations', headers: json, body: bad.body, expect };
    }
    case 1: return { ...base, route: 'POST /api/generations', kind: 'bad-field', method: 'POST', path: '/api/generations', headers: json,
      body: r.pick([`{"prompt":${r.pick(['1', 'null', '[]', deepValue(r)])}}`, `{"prompt":"x","width":${badInt(r, 1, 16384).replace(/^null$/, '0')}}`, `{"prompt":"x","size":${weirdStringJson(r)}}`, `{"prompt":"x","seed":${r.pick(['1e308', '"1e3"', '-0.5', `"${'9'.repeat(41)}"`])}}`, `{"prompt":"x",${protoKeys(r).slice(1)}`, `{"prompt":"x","job_id":${JSON.stringify(`${weirdString(r)}!`)}}`]), // "!" is never in a job id
      expect: ['400 invalid_body', '400 invalid_json'] };
    case 2: return { ...base, route: 'POST /api/generations', kind: 'no-token', method: 'POST', path: '/api/generations', headers: { ...JSON_TYPE, ...(r.chance(0.5) && { authorization: `Bearer ${weirdString(r).replace(/[^\x20-\x7e]/g, 'x')}` }) }, body: '{"prompt":"x"}', expect: ['401 unauthorized'] };
    // The auth server has no PRODUCER_TOKEN: the main server's is no token there (not a JWT); a JWT without `publish` is 403.
    case 3: return r.chance(0.5)
      ? { ...base, route: 'POST /api/generations', kind: 'foreign-token', method: 'POST', path: '/api/generations', headers: json, body: '{"prompt":"x"}', expect: ['401 token_invalid'], server: ctx.auth }
      : { ...base, route: 'POST /api/generations', kind: 'no-publish-scope', method: 'POST', path: '/api/generations', headers: { ...JSON_TYPE, authorization: `Bearer ${validToken(ctx.jwtSecret, 'fuzz', r.pick(['view', 'control', 'view:demo']))}` }, body: '{"prompt":"x"}', expect: ['403 scope_missing'], server: ctx.auth };
    case 4: return { ...base, route: 'POST /api/generations', kind: 'wrong-content-type', method: 'POST', path: '/api/generations', headers: { ...auth, 'content-type': r.pick(['text/plain', 'application/xml', 'image/png']) }, body: '{"prompt":"x"}', expect: ['415 unsupported_media_type'] };
    case 5: return { ...base, route: 'POST /api/generations', kind: 'over-64KiB', method: 'POST', path: '/api/generations', headers: json, body: `{"prompt":"${'x'.repeat(70_000)}"}`, expect: ['413 body_too_large'] };
    case 6: return { ...base, route: 'POST /api/generations/:id/progress', kind: 'bad-body', method: 'POST', path: `/api/generations/${jobId}/progress`, headers: json, body: `{"progress":${r.chance(0.2) ? deepValue(r) : badProgress(r)},"stage":${anyValue(r)}}`, expect: ['400 invalid_body'] };
    case 7: return { ...base, route: 'POST /api/generations/:id/progress', kind: 'unknown-job', method: 'POST', path: `/api/generations/${r.chance(0.5) ? enc(weirdString(r).slice(0, 200)) : `missing-${r.int(1e6)}`}/progress`, headers: json, body: '{"progress":5}', expect: ['404 job_not_found', '400 invalid_body'] };
    case 8: {
      const boundary = r.pick(['', 'boundary=', 'boundary=zzz', `boundary=${'b'.repeat(100)}`, 'boundary="unterminated']);
      const body = r.pick([`--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n${'x'.repeat(100)}\r\n--xyz--\r\n`, '--zzz\r\n\r\n', 'garbage', '']);
      return { ...base, route: 'POST /api/generations/:id/images', kind: 'multipart-bad-boundary', method: 'POST', path: `/api/generations/${jobId}/images`, headers: { ...auth, 'content-type': `multipart/form-data; ${boundary}`.trim() }, body, expect: ['400 invalid_body', '415 unsupported_media_type'] };
    }
    case 9: return { ...base, route: 'POST /api/generations/:id/images', kind: 'not-an-image', method: 'POST', path: `/api/generations/${jobId}/images?filename=${enc(weirdString(r).slice(0, 100))}&imageIdx=${r.pick(['0', '-1', 'x', '1e308'])}`, headers: { ...auth, 'content-type': 'image/png' }, body: r.bytes(r.range(0, 3000)),
      expect: jobId.startsWith('missing-') ? ['404 job_not_found', '400 invalid_body'] : ['415 not_an_image', '400 invalid_body'] };
    default: return { ...base, route: 'POST /api/notifications', kind: 'bad-body', method: 'POST', path: '/api/notifications', headers: json,
      body: r.pick([`{"severity":${weirdStringJson(r)},"message":"m"}`, `{"severity":"info","message":${r.pick(['null', '1', deepValue(r)])}}`, `{"severity":"info","message":"m","action_url":${r.pick(['1', 'true', '[]', '{}', deepValue(r), '1e308'])}}`, badJsonBody(r).body]),
      expect: ['400 invalid_body', '400 invalid_json'] };
  }
}

async function label(family: Family, res: Response): Promise<string> {
  const text = await res.text();
  if (res.status < 400) return String(res.status);
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `${res.status}${family === 'plain' ? '' : ' not-json'}`;
  }
  if (family === 'session') return body?.success === false && typeof body.error === 'string' ? String(res.status) : `${res.status} unshaped`;
  if (family === 'plain') return String(res.status);
  const code = typeof body?.error === 'string' ? body.error : body?.error?.code;
  return `${res.status} ${code}`;
}

/**
 * A few requests in a row (one job created for the publish routes to act on): each answer's
 * status and error code must be among those the README lists for the route.
 */
export async function restCase(ctx: FuzzContext, r: Prng, caseIndex: number): Promise<void> {
  let jobId = `missing-${caseIndex}`;
  if (r.chance(0.3)) {
    // A real job, so /progress, /images, /fail reach their checks beyond "no such job".
    const res = await send(ctx.main, 'POST', '/api/generations', { authorization: `Bearer ${ctx.producerToken}`, ...JSON_TYPE }, `{"prompt":"fuzz","job_id":"fuzz-rest-${ctx.seed}-${caseIndex}"}`);
    const sent: Sent = { target: target('rest', 'POST /api/generations'), kind: 'valid', caseIndex, index: 0, data: '{"prompt":"fuzz"}' };
    const got = res ? await label('publish', res) : 'no-answer';
    ctx.oracle.record(sent, got, ['201']);
    if (got === '201') jobId = `fuzz-rest-${ctx.seed}-${caseIndex}`;
    if (got === '201' && r.chance(0.3)) {
      const image = await send(ctx.main, 'POST', `/api/generations/${jobId}/images?filename=a.png`, { authorization: `Bearer ${ctx.producerToken}`, 'content-type': 'image/png' }, PNG_1X1);
      ctx.oracle.record({ ...sent, target: target('rest', 'POST /api/generations/:id/images'), data: PNG_1X1 }, image ? await label('publish', image) : 'no-answer', ['201']);
    }
  }
  const count = r.range(1, 8);
  for (let i = 1; i <= count && ctx.budgetLeft() && !ctx.stopped; i++) {
    const request = r.weighted<() => RestRequest>([[3, () => sessionRequest(ctx, r)], [2, () => controlRequest(ctx, r)], [3, () => plainRequest(r)], [4, () => publishRequest(ctx, r, jobId)], [2, () => recordingRequest(r)], [2, () => playbackRequest(r)], [2, () => accessRequest(ctx, r)], [1, () => clusterRequest(ctx, r)]])();
    const server = request.server ?? ctx.main;
    // Too deep is refused before anything else is looked at (after the token, which comes first).
    if (request.family === 'publish' && typeof request.body === 'string' && request.expect.every((e) => e.startsWith('400')) && /json/.test(request.headers['content-type'] ?? '') && jsonDepth(request.body) > MAX_JSON_DEPTH) {
      request.expect = ['400 invalid_json'];
    }
    // Over the JSON limit (64 KiB) the length decides first.
    if (request.family === 'publish' && typeof request.body === 'string' && Buffer.byteLength(request.body) > 64 * 1024 && request.expect.every((e) => e.startsWith('400'))) {
      request.expect = ['413 body_too_large'];
    }
    // Fastify's JSON parser refuses prototype keys (`__proto__`, `constructor`) as invalid JSON, before the schema sees them.
    if (request.family === 'publish' && typeof request.body === 'string' && request.expect.includes('400 invalid_body') && /"(__proto__|constructor)"\s*:/.test(request.body)) {
      request.expect = [...request.expect, '400 invalid_json'];
    }
    const sent: Sent = { target: target('rest', request.route), kind: request.kind, caseIndex, index: i, where: `${server.name}, ${JSON.stringify(request.headers).slice(0, 120)}`, data: `${request.method} ${request.path}\n${typeof request.body === 'string' ? request.body : request.body ? `<${request.body.length} bytes>` : ''}` };
    const res = await send(server, request.method, request.path, request.headers, request.method === 'GET' || request.method === 'DELETE' || request.method === 'OPTIONS' ? undefined : request.body);
    const got = res ? await label(request.family, res) : 'no-answer';
    ctx.oracle.record(sent, got, request.expect);
  }
}

async function send(server: ServerUnderTest, method: string, path: string, headers: Record<string, string>, body: string | Buffer | undefined): Promise<Response | undefined> {
  try {
    const payload = typeof body === 'string' || body === undefined ? body : new Uint8Array(body);
    return await fetch(`${server.http}${path}`, { method, headers, ...(payload !== undefined && { body: payload }), signal: AbortSignal.timeout(15_000) });
  } catch {
    return undefined;
  }
}
