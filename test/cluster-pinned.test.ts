import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis } from './redis-server.js';
import { killHard, spawnServer } from './server-process.js';
import { tempDir, type TestCleanup } from './temp-dir.js';
import { waitUntil } from './wait.js';
import { clusterNode, clusterView, feedViewer } from './cluster-viewer.js';
import type { ClusterView } from '../src/cluster/cluster.js';

// A configured stream pinned to one node (`node: <name>`, docs/cluster.md): only the node of
// that name runs its source, for every node's viewers; the others follow it and, while it is
// not in the cluster, tell their viewers so instead of taking the source over. Real `framehub
// serve` processes over a real redis-server (npm run build first).

const pinnedNode = (t: TestCleanup, redisUrl: string, config: string, name: string) => clusterNode(t, redisUrl, ['--config', config, '--node-name', name]);

const streamOf = (view: ClusterView, name: string) => view.nodes.find((n) => n.name === name)?.streams.find((s) => s.id === 'cam');

describe('a configured stream pinned to a node', () => {
  it('runs only on its node, for viewers on the others; its loss is a notice to them, not a takeover', async (t) => {
    const redis = await startRedis(t);
    const config = join(await tempDir(t), 'framehub.yaml');
    await writeFile(config, 'streams:\n  cam:\n    source: pattern\n    fps: 10\n    node: node-b\n');
    const [a, b, c] = await Promise.all([pinnedNode(t, redis.url, config, 'node-a'), pinnedNode(t, redis.url, config, 'node-b'), pinnedNode(t, redis.url, config, 'node-c')]);
    const view = await waitUntil(() => clusterView(a), (v) => v.nodes.length === 3, { timeoutMs: 20_000, what: 'the three nodes listed' });
    assert.equal(view.name, 'node-a');
    assert.deepEqual(view.nodes.map((n) => n.name).sort(), ['node-a', 'node-b', 'node-c']);
    const idB = view.nodes.find((n) => n.name === 'node-b')!.id;

    // Viewers on A and C, none on B: B runs the source for them.
    const onA = await feedViewer(t, a, 'cam');
    const onC = await feedViewer(t, c, 'cam');
    await Promise.all([onA.nextFrame(), onC.nextFrame()]);
    const served = await waitUntil(() => clusterView(c), (v) => v.streams['cam']?.owner === idB && streamOf(v, 'node-a')?.role === 'follower' && streamOf(v, 'node-c')?.role === 'follower' && (streamOf(v, 'node-b')?.published ?? 0) > 0, { timeoutMs: 20_000, what: 'B owning cam, A and C following' });
    assert.deepEqual({ node: served.streams['cam']!.node, nodePresent: served.streams['cam']!.nodePresent }, { node: 'node-b', nodePresent: true });
    assert.equal(streamOf(served, 'node-a')!.published, 0, 'A never published a frame of its own');
    assert.equal(streamOf(served, 'node-b')!.viewers, 0);

    // B dies: A's viewer is told its node is not in the cluster, and nobody takes the source over.
    await killHard(b);
    const notice = await onA.nextText((m) => m?.type === 'status' && m.data?.node_present === false, 30_000);
    assert.equal(notice.data.node, 'node-b');
    assert.match(notice.data.message, /node "node-b", the only node that runs the source of cam, is not in the cluster/);
    // By now B's lease (1.5 s) expired well before its name (5 s): a takeover would have happened already.
    const orphaned = await clusterView(a);
    assert.equal(orphaned.streams['cam']!.owner, null);
    assert.equal(orphaned.streams['cam']!.nodePresent, false);
    assert.equal(streamOf(orphaned, 'node-a')!.role, 'follower');
    assert.equal(streamOf(orphaned, 'node-c')!.role, 'follower');
    await onC.nextText((m) => m?.type === 'status' && m.data?.node_present === false, 30_000);

    // A node named node-b comes back: the viewers are told, and frames resume.
    const b2 = await pinnedNode(t, redis.url, config, 'node-b');
    const back = await onA.nextText((m) => m?.type === 'status' && m.data?.node_present === true, 30_000);
    assert.match(back.data.message, /is back in the cluster/);
    await onA.nextFrame();
    const resumed = await waitUntil(() => clusterView(b2), (v) => v.streams['cam']?.owner === v.node, { timeoutMs: 20_000, what: 'the new node-b owning cam' });
    assert.equal(streamOf(resumed, 'node-a')!.role, 'follower');
  });

  it('without REDIS_URL, a stream pinned to another node is a config error at start', async (t) => {
    const dir = await tempDir(t);
    const config = join(dir, 'framehub.yaml');
    await writeFile(config, 'streams:\n  cam:\n    source: pattern\n    node: elsewhere\n');
    await assert.rejects(spawnServer(['--config', config, '--node-name', 'here', '--image-dir', dir]), /streams\.cam\.node is "elsewhere", but this node is "here" and joins no cluster/);
  });
});
