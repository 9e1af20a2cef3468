import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './redis-server.js';
import { closeRedis, connectRedis, type RedisClient } from '../src/cluster/redis-connection.js';
import { ClusterShareLinks } from '../src/server/cluster-share-links.js';
import { AuthError } from '../src/server/auth.js';
import type { TestCleanup } from './temp-dir.js';
import { withTimeout } from './wait.js';

// ClusterShareLinks against a real redis-server, with Redis holding what framehub did not write:
// every record, notice and key read back is checked, and a bad one is an unknown link, never a crash.

const log = { warn: () => undefined, info: () => undefined };

async function clients(t: TestCleanup, url: string): Promise<{ redis: RedisClient; subscriber: RedisClient }> {
  const redis = await connectRedis(url, log, 'test');
  const subscriber = await connectRedis(url, log, 'test-sub');
  t.after(async () => {
    await closeRedis(subscriber);
    await closeRedis(redis);
  });
  return { redis, subscriber };
}

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AuthError, String(error));
    return error.code;
  }
  return 'accepted';
};

describe('ClusterShareLinks: what Redis holds is hostile input', () => {
  it('two registries on one Redis share links, uses and revocations; tampered records are unknown links', async (t) => {
    const server = await startRedis(t);
    const one = await clients(t, server.url);
    const two = await clients(t, server.url);
    const a = new ClusterShareLinks(one);
    const b = new ClusterShareLinks(two);
    await a.start();
    await b.start();
    t.after(async () => {
      await a.close();
      await b.close();
    });

    const { link, token } = await a.create('session:s1', 'control', 60, 2);
    const principal = await b.verify(token);
    assert.deepEqual([...principal.scopes], ['control:s1']);
    await b.use(link.id);
    await a.use(link.id);
    assert.equal(await codeOf(b.use(link.id)), 'token_used_up');
    assert.deepEqual((await b.list('session:s1')).map((l) => [l.id, l.uses]), [[link.id, 2]]);

    // Watched on B, revoked on A: B's watcher hears it through the notice.
    const ended = new Promise<string>((resolve) => principal.share!.watch((error) => resolve(error.code)));
    assert.equal((await a.revoke('session:s1', link.id))?.revoked, true);
    assert.equal(await withTimeout(ended, 10_000, 'the revocation on B'), 'token_revoked');
    assert.equal(await codeOf(b.verify(token)), 'token_revoked');

    // Records framehub would not write: each field out of range, or a widened scope.
    const second = await a.create('demo', 'view', 60, undefined);
    const key = `framehub:share:${second.link.id}`;
    const good = await one.redis.hGetAll(key);
    const tampered: Record<string, string>[] = [
      { scope: 'admin' },
      { mode: 'drive' },
      { target: '' },
      { expires: 'soon' },
      { uses: '-1' },
      { max: '0' },
      { revoked: 'maybe' },
    ];
    for (const change of tampered) {
      await one.redis.hSet(key, { ...good, ...change });
      assert.equal(await codeOf(b.verify(second.token)), 'token_invalid', JSON.stringify(change));
      assert.deepEqual(await b.list('demo'), [], JSON.stringify(change));
    }
    await one.redis.del(key);
    await one.redis.set(key, 'not a hash');
    assert.equal(await codeOf(b.verify(second.token)), 'token_invalid', 'a key of another type');
    assert.equal(await codeOf(b.use(second.link.id)), 'token_invalid');
    assert.equal(await b.revoke('demo', second.link.id), undefined);
    assert.deepEqual(await b.list('demo'), []);

    // Notices that are not ours: ignored.
    for (const message of ['', 'null', '{"event":"revoked","id":42}', '{"event":"dropped","target":"demo","ids":"x"}', '[1,2]', 'x'.repeat(1000)]) {
      await one.redis.publish('framehub:shares', message);
    }
    // Still working after them.
    const third = await b.create('demo', 'view', 60, 1);
    await a.use(third.link.id);
    assert.equal(await codeOf(a.use(third.link.id)), 'token_used_up');
  });

  it('refuses to start on a cluster signing key it did not make', async (t) => {
    const server = await startRedis(t);
    const one = await clients(t, server.url);
    await one.redis.set('framehub:share-secret', 'short');
    await assert.rejects(new ClusterShareLinks(one).start(), /framehub:share-secret in Redis is not a key framehub made/);
  });
});
