import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair } from 'jose';
import { Consumer, JWT_SECRET, PRODUCER_TOKEN, closedWithin, numberedPng, startGenServer } from './generations-helpers.js';

const secret = new TextEncoder().encode(JWT_SECRET);
const hs256 = (claims: Record<string, unknown>, sub: string, exp: string | number = '10m') =>
  new SignJWT({ scope: 'view', ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime(exp).sign(secret);

test('the publish API refuses missing and wrong producer tokens, and everything when no token is configured', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const none = await fetch(`${srv.http}/api/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await none.json()).error, 'unauthorized');
  const wrong = await srv.api('POST', '/api/generations', { prompt: 'x' }, { authorization: 'Bearer nope-nope-nope' });
  assert.deepEqual(wrong.json.error, 'unauthorized');

  const closed = await startGenServer({ producerToken: '' });
  t.after(() => closed.close());
  const off = await closed.api('POST', '/api/generations', { prompt: 'x' });
  assert.equal(off.status, 403);
  assert.equal(off.json.error, 'publish_disabled');
  assert.match(off.json.message, /PRODUCER_TOKEN/);
});

test('bad bodies get a 4xx with a code and a message naming the problem', async (t) => {
  const srv = await startGenServer({ maxImageSize: 4096 });
  t.after(() => srv.close());
  const expect = async (res: Promise<{ status: number; json: any }>, status: number, error: string, message?: RegExp) => {
    const { status: got, json } = await res;
    assert.equal(got, status, JSON.stringify(json));
    assert.equal(json.error, error);
    if (message) assert.match(json.message, message);
  };
  await expect(srv.api('POST', '/api/generations', '{"prompt": ', { 'content-type': 'application/json' }), 400, 'invalid_json');
  await expect(srv.api('POST', '/api/generations', {}), 400, 'invalid_body', /prompt is required/);
  await expect(srv.api('POST', '/api/generations', { prompt: 'x', promt: 'typo' }), 400, 'invalid_body', /unknown field "promt"/);
  await expect(srv.api('POST', '/api/generations', { prompt: 'x', seed: 1.5 }), 400, 'invalid_body', /seed/);
  await expect(srv.api('POST', '/api/generations', { prompt: 'x', size: 'big' }), 400, 'invalid_body', /size must look like/);
  await expect(srv.api('POST', '/api/generations', { prompt: 'x'.repeat(70_000) }), 413, 'body_too_large');
  await expect(srv.api('POST', '/api/generations', 'prompt=x', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
  await expect(srv.api('POST', '/api/generations/nope/progress', { progress: 5 }), 404, 'job_not_found');

  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'x', job_id: 'job-1' });
  assert.equal(job.job_id, 'job-1');
  await expect(srv.api('POST', '/api/generations', { prompt: 'x', job_id: 'job-1' }), 409, 'job_exists');
  await expect(srv.api('POST', '/api/generations/job-1/progress', { progress: 150 }), 400, 'invalid_body', /0 to 100/);
  await expect(srv.api('POST', '/api/generations/job-1/images', Buffer.from('not an image at all'), { 'content-type': 'image/png' }), 415, 'not_an_image');
  await expect(srv.api('POST', '/api/generations/job-1/images', Buffer.alloc(8192, 1), { 'content-type': 'image/png' }), 413, 'body_too_large', /4096/);
  await expect(srv.api('POST', '/api/generations/job-1/images', { image: 'base64?' }), 415, 'unsupported_media_type');
  const png = await numberedPng(1);
  await expect(srv.publishImage('job-1', png, { imageIdx: 3, imageLength: 2 }), 400, 'invalid_body', /imageIdx \(3\) must be less than imageLength \(2\)/);
  await expect(srv.publishImage('job-1', png, { params: '{"seed": ' }), 400, 'invalid_body', /params must be a JSON object/);
  await expect(srv.publishImage('job-1', png, { imageIdx: 'x' }), 400, 'invalid_body', /imageIdx/);
  assert.equal((await srv.publishImage('job-1', png, { imageIdx: 0, imageLength: 2 })).status, 201);
  await expect(srv.publishImage('job-1', png, { imageIdx: 0, imageLength: 2 }), 409, 'duplicate_image');
  await expect(srv.api('POST', '/api/generations/job-1/fail', { error: 'oom', retry_allowed: 'yes' }), 400, 'invalid_body', /retry_allowed/);
  assert.equal((await srv.api('POST', '/api/generations/job-1/fail', { error: 'CUDA out of memory', retry_allowed: true })).status, 200);
  await expect(srv.api('POST', '/api/generations/job-1/progress', { progress: 5 }), 409, 'job_finished', /failed/);
  await expect(srv.api('POST', '/api/notifications', { severity: 'fatal', message: 'x' }), 400, 'invalid_body', /severity/);
  await expect(srv.api('POST', '/api/notifications', { message: 'x', action_url: 'javascript:alert(1)' }), 400, 'invalid_body', /action_url/);
});

test('a job published over HTTP (raw and multipart) reaches /ws as started, progress, completed, failed and notifications', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const consumer = await new Consumer().connect(`${srv.ws}/ws`);
  t.after(() => consumer.ws.terminate());

  const { status, json: job } = await srv.api('POST', '/api/generations', { prompt: 'a red cube', negative_prompt: 'text', seed: '123', width: 16, height: 16, workflow: 'sdxl.json', user_id: 'u1' });
  assert.equal(status, 201);
  assert.equal(job.status, 'running');
  await srv.api('POST', `/api/generations/${job.job_id}/progress`, { progress: 40, stage: 'sampling' });
  const raw = await srv.publishImage(job.job_id, await numberedPng(0), { imageIdx: 0, imageLength: 2, filename: 'cube_0.png', params: JSON.stringify({ seed: '124' }) });
  assert.equal(raw.status, 201);
  const form = new FormData();
  form.set('filename', 'cube_1.png');
  form.set('imageIdx', '1');
  form.set('imageLength', '2');
  form.set('params', JSON.stringify({ workflowName: 'sdxl-refiner.json' }));
  form.set('image', new Blob([new Uint8Array(await numberedPng(1))], { type: 'image/png' }), 'cube_1.png');
  const multi = await fetch(`${srv.http}/api/generations/${job.job_id}/images`, { method: 'POST', headers: { authorization: `Bearer ${PRODUCER_TOKEN}` }, body: form });
  assert.equal(multi.status, 201, await multi.clone().text());
  const { json: state } = await srv.api('GET', `/api/generations/${job.job_id}`);
  assert.equal(state.status, 'completed', 'all imageLength images arrived');
  const { json: job2 } = await srv.api('POST', '/api/generations', { prompt: 'doomed' });
  await srv.api('POST', `/api/generations/${job2.job_id}/fail`, { error: 'CUDA out of memory', retry_allowed: true });
  await srv.api('POST', '/api/notifications', { severity: 'warning', message: 'queue is long', action_url: '/queue' });

  await consumer.until(() => consumer.messages.length >= 7, '7 events');
  const [started, progress, completed0, completed1, started2, failed, note] = consumer.messages;
  assert.deepEqual(started.payload, { job_id: job.job_id, user_id: 'u1', prompt: 'a red cube' });
  assert.equal(started.type, 'image.generation.started');
  assert.deepEqual(progress.payload, { job_id: job.job_id, progress: 40, stage: 'sampling' });
  assert.equal(completed0.type, 'image.generation.completed');
  assert.match(completed0.payload.image_url, /^\/images\/.+\.png$/);
  assert.equal(completed0.payload.metadata.seed, '124');
  assert.equal(completed1.payload.metadata.workflow, 'sdxl-refiner.json');
  assert.equal(completed1.payload.metadata.filename, 'cube_1.png');
  assert.equal(started2.payload.user_id, null);
  assert.deepEqual(failed.payload, { job_id: job2.job_id, error: 'CUDA out of memory', retry_allowed: true });
  assert.deepEqual(note.payload, { severity: 'warning', message: 'queue is long', action_url: '/queue' });
  assert.deepEqual(consumer.messages.slice(0, 7).map((m) => m.id), [1, 2, 3, 4, 5, 6, 7]);

  const { images, total } = await (await fetch(`${srv.http}/api/images`)).json() as any;
  assert.equal(total, 2);
  assert.deepEqual(
    images.map((i: any) => [i.prompt, i.seed, i.workflow, i.url]),
    [['a red cube', '123', 'sdxl-refiner.json', completed1.payload.image_url], ['a red cube', '124', 'sdxl.json', completed0.payload.image_url]],
  );
  assert.equal((await fetch(`${srv.http}/images/..%2F..%2Fetc%2Fpasswd`)).status, 404);
});

test('/ws refuses missing, expired, badly signed and alg:none tokens with 4401 and a reason', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const refused = async (url: string, reason: RegExp, code: string) => {
    const consumer = await new Consumer().connect(url);
    const close = await closedWithin(consumer.ws);
    assert.equal(close.code, 4401);
    assert.match(close.reason, reason);
    assert.equal(consumer.messages[0]?.type, 'error');
    assert.equal(consumer.messages[0]?.payload.code, code);
  };
  await refused(`${srv.ws}/ws`, /no token/, 'token_missing');
  await refused(`${srv.ws}/ws?token=garbage`, /not a JWT/, 'token_invalid');
  await refused(`${srv.ws}/ws?token=${await hs256({}, 'alice', Math.floor(Date.now() / 1000) - 60)}`, /expired/, 'token_expired');
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(new TextEncoder().encode('another-secret-0123456789'));
  await refused(`${srv.ws}/ws?token=${forged}`, /signature/, 'token_invalid');
  await refused(`${srv.ws}/ws?token=${new UnsecuredJWT({ sub: 'alice' }).encode()}`, /alg none/, 'token_alg_none');
  // The query is checked before the token: a bad since is a 4400 whatever the token.
  const badQuery = await new Consumer().connect(`${srv.ws}/ws?since=abc&token=x`);
  assert.equal((await closedWithin(badQuery.ws)).code, 4400);
  assert.equal(badQuery.messages[0]?.payload.code, 'invalid_query');

  // Accepted from the Authorization header and from the subprotocol, which is echoed without the token.
  const token = await hs256({}, 'alice');
  const byHeader = await new Consumer().connect(`${srv.ws}/ws`, { headers: { authorization: `Bearer ${token}` } });
  const byProtocol = await new Consumer().connect(`${srv.ws}/ws`, {}, ['bearer', token]);
  t.after(() => { byHeader.ws.terminate(); byProtocol.ws.terminate(); });
  assert.equal(byProtocol.ws.protocol, 'bearer');
  await srv.api('POST', '/api/notifications', { message: 'hi' });
  await byHeader.until(() => byHeader.messages.length === 1, 'a notification');
  await byProtocol.until(() => byProtocol.messages.length === 1, 'a notification');
});

test('a token sees its own jobs; scope generations:all sees every job', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const alice = await new Consumer().connect(`${srv.ws}/ws?token=${await hs256({}, 'alice')}`);
  const admin = await new Consumer().connect(`${srv.ws}/ws?token=${await hs256({ scope: 'view generations:all' }, 'root')}`);
  t.after(() => { alice.ws.terminate(); admin.ws.terminate(); });
  await srv.api('POST', '/api/generations', { prompt: 'bob only', user_id: 'bob' });
  await srv.api('POST', '/api/generations', { prompt: 'alice only', user_id: 'alice' });
  await srv.api('POST', '/api/generations', { prompt: 'everyone' });
  await admin.until(() => admin.messages.length === 3, 'three jobs');
  await alice.until(() => alice.messages.length === 2, 'two jobs');
  assert.deepEqual(alice.messages.map((m) => m.payload.prompt), ['alice only', 'everyone']);
});

test('/ws verifies RS256 tokens against a JWKS URL', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  jwks.listen(0, '127.0.0.1');
  await once(jwks, 'listening');
  t.after(() => jwks.close());
  const srv = await startGenServer({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json` });
  t.after(() => srv.close());
  const good = await new SignJWT({ scope: 'view' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('carol').setExpirationTime('5m').sign(privateKey);
  const consumer = await new Consumer().connect(`${srv.ws}/ws?token=${good}`);
  t.after(() => consumer.ws.terminate());
  await srv.api('POST', '/api/notifications', { message: 'signed' });
  await consumer.until(() => consumer.messages.length === 1, 'a notification');
  // An HS256 token is not accepted where keys come from a JWKS (algorithm confusion).
  const hs = await new Consumer().connect(`${srv.ws}/ws?token=${await hs256({}, 'carol')}`);
  assert.equal((await closedWithin(hs.ws)).code, 4401);
});

test('malformed client messages get an error and the connection stays usable, on both routes', async (t) => {
  const srv = await startGenServer();
  t.after(() => srv.close());
  const events = await new Consumer().connect(`${srv.ws}/ws`);
  const streaming = await new Consumer().connect(`${srv.ws}/ws/streaming`);
  t.after(() => { events.ws.terminate(); streaming.ws.terminate(); });

  events.ws.send('{not json');
  events.ws.send(JSON.stringify({ type: 'launch.missiles' }));
  events.ws.send(JSON.stringify({ type: 'heartbeat', payload: {}, timestamp: new Date().toISOString() }));
  events.ws.send(JSON.stringify({ type: 'ping' }));
  events.ws.send(Buffer.from([1, 2, 3]));
  await events.until(() => events.messages.length === 5, 'five answers');
  assert.deepEqual(events.messages.map((m) => m.type === 'error' ? m.payload.code : m.type), ['invalid_json', 'unknown_command', 'heartbeat.ack', 'pong', 'unsupported_message']);

  streaming.ws.send(JSON.stringify({ type: 'subscribe', mode: 'all' }));
  streaming.ws.send(JSON.stringify({ type: 'ping' }));
  streaming.ws.send(JSON.stringify({ type: 'subscribe', mode: 'some' }));
  streaming.ws.send('[]');
  await streaming.until(() => streaming.messages.length === 4, 'four answers');
  assert.deepEqual(streaming.messages.map((m) => m.type === 'error' ? m.error.code : m.type), ['subscribed', 'pong', 'invalid_message', 'invalid_message']);
  assert.equal(streaming.messages[0].lastId, 0);

  // Still delivering after all that.
  const { json: job } = await srv.api('POST', '/api/generations', { prompt: 'still here' });
  await srv.publishImage(job.job_id, await numberedPng(3));
  await streaming.until(() => streaming.messages.some((m) => m.type === 'image-generated'), 'an image');
  const bad = await new Consumer().connect(`${srv.ws}/ws/streaming?since=-1`);
  assert.equal((await closedWithin(bad.ws)).code, 4400);
});

test('a /ws connection ends with 4401 when its token expires, and a fresh token resumes with ?since= losing nothing', async (t) => {
  const srv = await startGenServer({ jwtSecret: JWT_SECRET });
  t.after(() => srv.close());
  const shortLived = await hs256({}, 'alice', Math.floor(Date.now() / 1000) + 2);
  const consumer = await new Consumer().connect(`${srv.ws}/ws?token=${shortLived}`);
  await srv.api('POST', '/api/notifications', { message: 'one' });
  await consumer.until(() => consumer.messages.length === 1, 'the first event');
  const close = await closedWithin(consumer.ws, 5_000);
  assert.deepEqual(close, { code: 4401, reason: 'unauthorized: token expired' });
  await srv.api('POST', '/api/notifications', { message: 'two' });
  const resumed = await new Consumer().connect(`${srv.ws}/ws?token=${await hs256({}, 'alice')}&since=${consumer.messages[0].id}`);
  t.after(() => resumed.ws.terminate());
  await resumed.until(() => resumed.messages.length === 1, 'the missed event');
  assert.equal(resumed.messages[0].payload.message, 'two');
});
