import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, call, node, OWNER, STRANGER } from './cluster-session-helpers.js';
import { startRedis } from './redis-server.js';
import { killHard, type ServerProcess } from './server-process.js';
import { waitUntil } from './wait.js';

// The session caps and the session list across a cluster: two or three `framehub serve`
// processes over one real redis-server, creates sent to two nodes at the same moment, a node
// killed. Each would pass on a single node; on nodes that count only their own sessions (or list
// only their own), each fails.

const body = (id: string) => ({ session_id: id, width: 320, height: 240 });

/** Session `from-a` created on `a` by OWNER and `from-c` on `c` by STRANGER, at the same moment. */
async function createOnBoth(a: Parameters<typeof call>[0], c: Parameters<typeof call>[0]) {
  const [onA, onC] = await Promise.all([
    call(a, 'POST', '/api/session/create', OWNER, body('from-a')),
    call(c, 'POST', '/api/session/create', STRANGER, body('from-c')),
  ]);
  return { onA, onC, answers: [onA, onC] };
}

describe('cluster (REDIS_URL): session caps and the session list hold across the nodes', () => {
  it('holds the per-address cap across the cluster: creates from one address on A and C at once, one is refused as a single node refuses it', async (t) => {
    const redis = await startRedis(t);
    const caps = ['--max-sessions-per-ip', '1'];
    const a = await node(t, redis.url, caps);
    const c = await node(t, redis.url, caps);
    // Two owners, so only the per-address cap (both come from 127.0.0.1) can refuse one.
    const { onA, onC, answers } = await createOnBoth(a, c);
    const made = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status !== 201);
    assert.equal(made.length, 1, JSON.stringify(answers.map((answer) => answer.body)));
    assert.equal(refused[0]!.status, 429, JSON.stringify(refused[0]!.body));
    // Word for word what a single node answers: asked of the node that made the first, which refuses it from its own count.
    const winner = onA.status === 201 ? a : c;
    const local = await call(winner, 'POST', '/api/session/create', ADMIN, body('third'));
    assert.equal(local.status, 429);
    assert.deepEqual(refused[0]!.body, local.body);
    assert.match(local.body.error, /too many sessions from 127\.0\.0\.1: 1 at most/);
    // Deleted: the place is free again, on the other node too.
    const winnerId = onA.status === 201 ? 'from-a' : 'from-c';
    assert.equal((await call(winner, 'DELETE', `/api/session/${winnerId}`, onA.status === 201 ? OWNER : STRANGER)).status, 200);
    const other = winner === a ? c : a;
    const again = await call(other, 'POST', '/api/session/create', ADMIN, body('after'));
    assert.equal(again.status, 201, JSON.stringify(again.body));
  });

  it('holds the global cap across the cluster under creates on two nodes at once, and frees a dead node\'s places', async (t) => {
    const redis = await startRedis(t);
    const caps = ['--max-sessions', '1', '--max-sessions-per-ip', '100', '--max-sessions-per-user', '0'];
    const a = await node(t, redis.url, caps);
    const c = await node(t, redis.url, caps);
    // Two owners and a high per-address cap: only the global cap can refuse one.
    const { onA, onC, answers } = await createOnBoth(a, c);
    assert.equal(answers.filter((answer) => answer.status === 201).length, 1, JSON.stringify(answers.map((answer) => answer.body)));
    const refused = answers.find((answer) => answer.status !== 201)!;
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.deepEqual(refused.body, { success: false, error: 'too many sessions: 1 at most on this server; delete one or try later' });
    // The node that runs it dies: its place comes free when its reservation lapses (5 s), on the survivor.
    const [doomed, survivor] = onA.status === 201 ? [a, c] : [c, a];
    assert.equal((await call(survivor, 'POST', '/api/session/create', ADMIN, body('late'))).status, 429);
    await killHard(doomed);
    const created = await waitUntil(
      () => call(survivor, 'POST', '/api/session/create', ADMIN, body('late')),
      (answer) => answer.status === 201,
      { timeoutMs: 30_000, what: 'the dead node\'s place under the cap free again' },
    );
    assert.equal(created.body.session_id, 'late');
  });

  it('lists every node\'s sessions on any node, each with its node, as the caller may see them', async (t) => {
    const redis = await startRedis(t);
    const a = await node(t, redis.url);
    const b = await node(t, redis.url);
    const c = await node(t, redis.url);
    const idOf = async (server: ServerProcess) => (await call(server, 'GET', '/api/cluster', ADMIN)).body.node as string;
    const [idA, idB, idC] = [await idOf(a), await idOf(b), await idOf(c)];
    assert.equal((await call(a, 'POST', '/api/session/create', OWNER, body('mine'))).status, 201);
    // Placed on C (it runs none) or made on C: either way, made through C.
    assert.equal((await call(c, 'POST', '/api/session/create', STRANGER, body('theirs'))).status, 201);
    const where = await waitUntil(() => call(b, 'GET', '/api/cluster', ADMIN), (v) => v.body.sessions?.['mine'] !== undefined && v.body.sessions?.['theirs'] !== undefined, { timeoutMs: 20_000, what: 'both sessions in the cluster view' });
    // B runs neither: its list has both, with their nodes and every field a node lists its own with.
    const listed = await call(b, 'GET', '/api/sessions', ADMIN);
    assert.equal(listed.status, 200);
    const byId = new Map<string, any>(listed.body.sessions.map((session: any) => [session.session_id, session]));
    assert.deepEqual([...byId.keys()].sort(), ['mine', 'theirs']);
    assert.equal(byId.get('mine').node, where.body.sessions['mine']);
    assert.equal(byId.get('theirs').node, where.body.sessions['theirs']);
    assert.ok([idA, idC].includes(byId.get('mine').node) && byId.get('mine').node !== idB);
    const local = await call(a, 'GET', '/api/sessions', ADMIN);
    const fields = (session: any) => Object.keys(session).sort();
    const ownEntry = local.body.sessions.find((session: any) => session.node === idA);
    assert.ok(ownEntry, 'A lists its own session');
    assert.deepEqual(fields(byId.get('mine')), fields(ownEntry));
    assert.equal(typeof byId.get('mine').created_at, 'number');
    // Bare control sees its own sessions only, on every node.
    for (const server of [a, b, c]) {
      assert.deepEqual((await call(server, 'GET', '/api/sessions', OWNER)).body.sessions.map((session: any) => session.session_id), ['mine']);
      assert.deepEqual((await call(server, 'GET', '/api/sessions', STRANGER)).body.sessions.map((session: any) => session.session_id), ['theirs']);
    }
    // A node killed: the list still answers at once, with the live node's sessions (the dead one's, until it drops out, as unreachable).
    const [dead, live] = where.body.sessions['theirs'] === idC ? [c, 'mine'] : [a, 'theirs'];
    await killHard(dead);
    const after = await call(b, 'GET', '/api/sessions', ADMIN);
    assert.equal(after.status, 200);
    const liveEntry = after.body.sessions.find((session: any) => session.session_id === live);
    assert.equal(typeof liveEntry?.created_at, 'number', JSON.stringify(after.body));
    for (const session of after.body.sessions.filter((each: any) => each.session_id !== live)) assert.equal(session.state, 'unreachable');
  });
});
