import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './redis-server.js';
import { ADMIN, OWNER, STRANGER, call, node } from './cluster-session-helpers.js';
import { waitUntil } from './wait.js';
import { feedOutcome, feedViewer } from './cluster-viewer.js';

// Share links in a cluster (docs/sessions.md "Share links"): the registry is in Redis, so a link
// made on one node admits, counts, lists and revokes on every node. Real `framehub serve`
// processes over a real redis-server (npm run build first). No JWT_SECRET or SHARE_SECRET: the
// nodes sign with the cluster's key from Redis, so this also checks that a token signed on one
// node verifies on the others.

describe('share links across the nodes of a cluster', () => {
  it('a link made on A admits on B, lists on C with every use counted, and a revoke on B ends it on every node', async (t) => {
    const redis = await startRedis(t);
    const [a, b, c] = await Promise.all([node(t, redis.url), node(t, redis.url), node(t, redis.url)]);

    const made = await call(a, 'POST', '/api/streams/demo/share', ADMIN, { ttl: 600 });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { token, link } = made.body as { token: string; link: { id: string } };

    // Admitted on B (a node that did not make it) and on A.
    const onB = await feedViewer(t, b, 'demo', token);
    await onB.nextFrame();
    const onA = await feedViewer(t, a, 'demo', token);
    await onA.nextFrame();

    // C lists the link, with both uses counted.
    const listed = await call(c, 'GET', '/api/streams/demo/shares', ADMIN);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.links.map((l: { id: string; uses: number; revoked: boolean }) => [l.id, l.uses, l.revoked]), [[link.id, 2, false]]);

    // Revoked on B: the connections it admitted on A and on B end with 4401 and the revocation's reason.
    const revoked = await call(b, 'DELETE', `/api/streams/demo/shares/${link.id}`, ADMIN);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.link.revoked, true);
    const [endA, endB] = await Promise.all([onA.closed, onB.closed]);
    assert.deepEqual(endA, { code: 4401, reason: 'unauthorized: share link revoked' });
    assert.deepEqual(endB, { code: 4401, reason: 'unauthorized: share link revoked' });

    // C refuses it from now on, as revoked (not as an unknown link).
    const onC = await feedOutcome(t, c, 'demo', token);
    assert.ok('refused' in onC, 'C admitted a revoked link');
    assert.equal(onC.refused.code, 4401);
    assert.equal(onC.refused.error, 'token_revoked');
    const after = await call(a, 'GET', '/api/streams/demo/shares', ADMIN);
    assert.deepEqual(after.body.links.map((l: { id: string; revoked: boolean }) => [l.id, l.revoked]), [[link.id, true]]);
  });

  it('max_uses 1 raced on two nodes admits exactly one connection', async (t) => {
    const redis = await startRedis(t);
    const [a, b] = await Promise.all([node(t, redis.url), node(t, redis.url)]);
    for (let round = 0; round < 3; round++) {
      const made = await call(a, 'POST', '/api/streams/demo/share', ADMIN, { max_uses: 1 });
      assert.equal(made.status, 201);
      const token = made.body.token as string;
      const outcomes = await Promise.all([feedOutcome(t, a, 'demo', token), feedOutcome(t, b, 'demo', token)]);
      const admitted = outcomes.filter((outcome) => 'open' in outcome);
      const refused = outcomes.flatMap((outcome) => ('refused' in outcome ? [outcome.refused] : []));
      assert.equal(admitted.length, 1, `round ${round}: ${JSON.stringify(refused)}`);
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.code, 4401);
      assert.equal(refused[0]!.error, 'token_used_up');
      for (const outcome of admitted) if ('open' in outcome) outcome.open.ws.terminate();
    }
  });

  it('the per-target cap counts the links made on every node', async (t) => {
    const redis = await startRedis(t);
    const [a, b] = await Promise.all([node(t, redis.url), node(t, redis.url)]);
    for (let i = 0; i < 32; i++) {
      const made = await call(i % 2 === 0 ? a : b, 'POST', '/api/streams/demo/share', ADMIN, {});
      assert.equal(made.status, 201);
    }
    const refused = await call(b, 'POST', '/api/streams/demo/share', ADMIN, {});
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'too_many_shares');
    const listed = await call(a, 'GET', '/api/streams/demo/shares', ADMIN);
    assert.equal(listed.body.links.length, 32);
  });

  it("a session's links are made, used and revoked through a node that does not run it (real Chromium)", async (t) => {
    const redis = await startRedis(t);
    const [a, b] = await Promise.all([node(t, redis.url), node(t, redis.url)]);
    const created = await call(a, 'POST', '/api/session/create', OWNER, { session_id: 'kiosk', width: 320, height: 240 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const view = await waitUntil(() => call(b, 'GET', '/api/cluster', ADMIN), (v) => v.body.sessions?.['kiosk'] !== undefined, { timeoutMs: 20_000, what: "B knowing A's session" });
    const runsOn = view.body.sessions['kiosk'] as string;
    const [home, away] = view.body.nodes.find((n: { id: string }) => n.id === runsOn)?.url === a.http ? [a, b] : [b, a];

    // Made on the node that does not run the session, by its owner only.
    assert.equal((await call(away, 'POST', '/api/session/kiosk/share', STRANGER, { mode: 'control' })).status, 404);
    const control = await call(away, 'POST', '/api/session/kiosk/share', OWNER, { mode: 'control' });
    assert.equal(control.status, 201, JSON.stringify(control.body));
    const watch = await call(away, 'POST', '/api/session/kiosk/share', OWNER, { mode: 'view' });
    assert.equal(watch.status, 201);

    // Used through that node (its calls are forwarded to the session's node, which checks the link in Redis).
    assert.equal((await call(away, 'POST', '/api/session/kiosk/keepalive', control.body.token)).status, 200);
    assert.equal((await call(away, 'GET', '/api/session/kiosk', watch.body.token)).status, 200);
    assert.equal((await call(away, 'POST', '/api/session/kiosk/keepalive', watch.body.token)).status, 403, 'a view link does not drive');

    // Listed and revoked on the session's node: refused on both.
    const listed = await call(home, 'GET', '/api/session/kiosk/shares', OWNER);
    assert.deepEqual(listed.body.links.map((l: { mode: string }) => l.mode).sort(), ['control', 'view']);
    assert.equal((await call(home, 'DELETE', `/api/session/kiosk/shares/${control.body.link.id}`, OWNER)).status, 200);
    for (const server of [home, away]) {
      const refused = await call(server, 'POST', '/api/session/kiosk/keepalive', control.body.token);
      assert.equal(refused.status, 401);
      assert.match(refused.body.error, /share link revoked/);
    }
    assert.equal((await call(home, 'DELETE', '/api/session/kiosk', OWNER)).status, 200);
  });
});
