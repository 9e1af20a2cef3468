import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import sharp from 'sharp';
import { sniffImage } from '../src/image/sniff.js';
import { nextBinary, nextJson, openSocket } from './helpers.js';
import { Consumer, numberedPng, sha, startGenServer } from './generations-helpers.js';
import { FakeComfyUi, pyJson, txt2imgGraph } from './generations-fake-comfyui.js';
import { ComfyUiBridge } from '../src/bridges/comfyui-bridge.js';
import type { Generations } from '../src/generations/generations.js';
import { PushSource } from '../src/sources/push-source.js';
import type { ReconnectPolicy } from '../src/util/reconnect-policy.js';


test('the fake ComfyUI writes JSON the way Python json.dumps does', () => {
  assert.equal(pyJson({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'abc' } }),
    '{"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"}}');
  assert.equal(pyJson({ text: 'café', n: [1, null, true] }), '{"text": "caf\\u00e9", "n": [1, null, true]}');
});

test('the ComfyUI bridge republishes prompts as jobs, progress and images, previews as comfyui:previews, and recovers across a ComfyUI restart', async (t) => {
  const comfy = new FakeComfyUi();
  await comfy.start();
  t.after(() => comfy.stop());
  const firstConnection = once(comfy, 'connection');
  const srv = await startGenServer({ comfyui: `${comfy.url}/?clientId=ui-1` });
  t.after(() => srv.close());
  const [sid] = await firstConnection as [string];
  assert.equal(sid, 'ui-1', 'the bridge uses the client id of the URL');

  const events = await new Consumer().connect(`${srv.ws}/ws`);
  const streaming = await new Consumer().connect(`${srv.ws}/ws/streaming`);
  const previews = await openSocket(`${srv.ws}/ws/video_feed?stream=comfyui:previews`);
  const previewJson = await openSocket(`${srv.ws}/stream/comfyui:previews`);
  t.after(() => { events.ws.terminate(); streaming.ws.terminate(); previews.terminate(); previewJson.terminate(); });
  const firstPreview = nextBinary(previews);
  const firstJsonFrame = nextJson(previewJson, (m) => m.type === 'frame');

  const outputs = [
    { filename: 'ComfyUI_00001_.png', bytes: await numberedPng(11, 64) },
    { filename: 'ComfyUI_00002_.png', bytes: await numberedPng(12, 64) },
  ];
  const preview = await sharp({ create: { width: 48, height: 32, channels: 3, background: '#336699' } }).jpeg().toBuffer();
  const now = () => Date.now();
  comfy.queue('p1', sid, txt2imgGraph('a castle on a hill', 'fog', 8566257, 64, 64), outputs);
  comfy.send(sid, 'execution_start', { prompt_id: 'p1', timestamp: now() });
  comfy.send(sid, 'execution_cached', { nodes: ['4'], prompt_id: 'p1', timestamp: now() });
  comfy.send(sid, 'executing', { node: '3', display_node: '3', prompt_id: 'p1' });
  for (let step = 1; step <= 3; step++) {
    comfy.send(sid, 'progress', { value: step, max: 3, prompt_id: 'p1', node: '3' });
    comfy.sendPreview(sid, 'JPEG', preview);
  }
  comfy.send(sid, 'executing', { node: '9', display_node: '9', prompt_id: 'p1' });
  comfy.send(sid, 'executed', { node: '9', display_node: '9', output: { images: outputs.map((o) => ({ filename: o.filename, subfolder: '', type: 'output' })) }, prompt_id: 'p1' });
  comfy.send(sid, 'execution_success', { prompt_id: 'p1', timestamp: now() });
  comfy.finish('p1', outputs);

  const completed = (jobId: string) => events.messages.filter((m) => m.type === 'image.generation.completed' && m.payload.job_id === jobId);
  await events.until(() => completed('p1').length === 2, 'two completed images of p1');
  const started = events.messages.find((m) => m.type === 'image.generation.started');
  assert.deepEqual(started.payload, { job_id: 'p1', user_id: null, prompt: 'a castle on a hill' });
  const progress = events.messages.filter((m) => m.type === 'image.generation.progress' && m.payload.stage.startsWith('sampling'));
  assert.deepEqual(progress.map((m) => m.payload.progress), [33, 67, 100]);
  for (const [i, m] of completed('p1').entries()) {
    assert.equal(m.payload.metadata.seed, '8566257');
    assert.equal(m.payload.metadata.negative_prompt, 'fog');
    const served = Buffer.from(await (await fetch(srv.http + m.payload.image_url)).arrayBuffer());
    assert.equal(sha(served), sha(outputs[i]!.bytes), 'the /view bytes, stored and served');
  }
  assert.ok(comfy.requests.includes('/view?filename=ComfyUI_00001_.png&subfolder=&type=output'));

  await streaming.until(() => streaming.messages.filter((m) => m.type === 'image-generated').length === 2, 'two image-generated');
  const generated = streaming.messages.filter((m) => m.type === 'image-generated');
  assert.deepEqual(generated.map((m) => m.data.imageInfo), outputs.map((o) => ({ filename: o.filename, subfolder: '', type: 'output' })));
  assert.deepEqual(generated.map((m) => [m.data.promptId, m.data.imageIdx]), [['p1', 0], ['p1', 1]]);
  assert.equal(generated[0].data.params.positivePrompt, 'a castle on a hill');

  const frame = sniffImage(await firstPreview);
  assert.deepEqual([frame?.format, frame?.width, frame?.height], ['jpeg', 48, 32], 'previews reach /ws/video_feed?stream=comfyui:previews');
  const jsonFrame = await firstJsonFrame;
  assert.match(jsonFrame.data.data_url, /^data:image\/jpeg;base64,/);
  assert.deepEqual([jsonFrame.data.width, jsonFrame.data.height], [48, 32], 'previews reach /stream/comfyui:previews');

  // p2 finishes while the bridge is cut off, p3 is lost by the restart.
  comfy.queue('p2', sid, txt2imgGraph('a boat', '', 1, 64, 64), [{ filename: 'ComfyUI_00003_.png', bytes: await numberedPng(13, 64) }]);
  comfy.queue('p3', sid, txt2imgGraph('a tree', '', 2, 64, 64), []);
  comfy.send(sid, 'execution_start', { prompt_id: 'p2', timestamp: now() });
  comfy.send(sid, 'execution_start', { prompt_id: 'p3', timestamp: now() });
  await events.until(() => events.messages.filter((m) => m.type === 'image.generation.started').length === 3, 'p2 and p3 started');
  await comfy.stop();
  await events.until(() => events.messages.some((m) => m.type === 'system.notification' && /disconnected/.test(m.payload.message)), 'a disconnect notification');
  comfy.finish('p2', [{ filename: 'ComfyUI_00003_.png' }]);
  comfy.running.delete('p3');

  const reconnected = once(comfy, 'connection');
  await comfy.start();
  assert.deepEqual(await reconnected, ['ui-1']);
  await events.until(() => completed('p2').length === 1, 'p2 image recovered from /history');
  await events.until(() => events.messages.some((m) => m.type === 'image.generation.failed' && m.payload.job_id === 'p3'), 'p3 failed');
  const failed = events.messages.find((m) => m.type === 'image.generation.failed');
  assert.equal(failed.payload.retry_allowed, true);
  assert.ok(events.messages.some((m) => m.type === 'system.notification' && /reachable again/.test(m.payload.message)));

  // And the bridge keeps working on the new connection.
  comfy.queue('p4', sid, txt2imgGraph('a bird', '', 3, 64, 64), [{ filename: 'ComfyUI_00004_.png', bytes: await numberedPng(14, 64) }]);
  comfy.send(sid, 'execution_start', { prompt_id: 'p4', timestamp: now() });
  comfy.send(sid, 'executed', { node: '9', output: { images: [{ filename: 'ComfyUI_00004_.png', subfolder: '', type: 'output' }] }, prompt_id: 'p4' });
  comfy.send(sid, 'executing', { node: null, prompt_id: 'p4' });
  await events.until(() => completed('p4').length === 1, 'p4 completed');
  const ids = events.messages.filter((m) => typeof m.id === 'number').map((m) => m.id);
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
});

test('ComfyUI execution errors and interruptions fail the job with retry allowed', async (t) => {
  const comfy = new FakeComfyUi();
  await comfy.start();
  t.after(() => comfy.stop());
  const connection = once(comfy, 'connection');
  const srv = await startGenServer({ comfyui: comfy.url });
  t.after(() => srv.close());
  const [sid] = await connection as [string];
  assert.match(sid, /^framehub-/, 'without a clientId the bridge picks its own');
  const events = await new Consumer().connect(`${srv.ws}/ws`);
  t.after(() => events.ws.terminate());

  comfy.send(sid, 'execution_start', { prompt_id: 'e1', timestamp: Date.now() });
  comfy.send(sid, 'execution_error', { prompt_id: 'e1', node_id: '3', node_type: 'KSampler', executed: [], exception_message: 'CUDA out of memory\n', exception_type: 'torch.OutOfMemoryError', traceback: [], current_inputs: {}, current_outputs: {} });
  comfy.send(sid, 'execution_start', { prompt_id: 'e2', timestamp: Date.now() });
  comfy.send(sid, 'execution_interrupted', { prompt_id: 'e2', node_id: '3', node_type: 'KSampler', executed: [] });
  // Garbage from ComfyUI (or a plugin) is ignored, not fatal.
  comfy.clients.get(sid)?.send('{"type": "crystools.monitor", "data": {"cpu_utilization": 3}}');
  comfy.clients.get(sid)?.send('not json');
  comfy.clients.get(sid)?.send(Buffer.from([0, 0, 0, 9]));
  await events.until(() => events.messages.filter((m) => m.type === 'image.generation.failed').length === 2, 'two failures');
  const failures = events.messages.filter((m) => m.type === 'image.generation.failed').map((m) => m.payload);
  assert.deepEqual(failures, [
    { job_id: 'e1', error: 'KSampler: CUDA out of memory', retry_allowed: true },
    { job_id: 'e2', error: 'interrupted', retry_allowed: true },
  ]);
});

test('the bridge retries /view, and says so in a notification when an image cannot be fetched at all', async (t) => {
  const comfy = new FakeComfyUi();
  await comfy.start();
  t.after(() => comfy.stop());
  const connection = once(comfy, 'connection');
  const srv = await startGenServer({ comfyui: `${comfy.url}/?clientId=retry` });
  t.after(() => srv.close());
  const [sid] = await connection as [string];
  const events = await new Consumer().connect(`${srv.ws}/ws`);
  t.after(() => events.ws.terminate());

  comfy.queue('r1', sid, {}, [{ filename: 'ok.png', bytes: await numberedPng(1, 8) }]);
  comfy.viewFailures = 1;
  comfy.send(sid, 'execution_start', { prompt_id: 'r1', timestamp: Date.now() });
  comfy.send(sid, 'executed', { node: '9', output: { images: [{ filename: 'ok.png', subfolder: '', type: 'output' }, { filename: 'gone.png', subfolder: '', type: 'output' }] }, prompt_id: 'r1' });
  await events.until(() => events.messages.some((m) => m.type === 'image.generation.completed'), 'the image fetched on the second try', 10_000);
  await events.until(() => events.messages.some((m) => m.type === 'system.notification' && m.payload.severity === 'error'), 'a notification about gone.png', 15_000);
  const note = events.messages.find((m) => m.type === 'system.notification' && m.payload.severity === 'error');
  assert.match(note.payload.message, /gone\.png.*r1.*404/);
});


test('the ComfyUI bridge runs on the client library\'s reconnect core: an injected policy sees each close and paces the reconnects', async (t) => {
  const comfy = new FakeComfyUi();
  await comfy.start();
  t.after(() => comfy.stop());
  const asked: Array<{ attempt: number; code: number | undefined }> = [];
  const reconnectPolicy: ReconnectPolicy = {
    nextDelay: (attempt, close) => {
      asked.push({ attempt, code: close?.code });
      return 20;
    },
  };
  const notices: string[] = [];
  const generations = { notify: async (_severity: string, message: string) => { notices.push(message); } } as unknown as Generations;
  const bridge = new ComfyUiBridge({ url: comfy.url, generations, previews: new PushSource(), reconnectPolicy });
  t.after(() => bridge.stop());
  const states: string[] = [];
  bridge.on('state:change', ({ newState }) => states.push(newState));
  const first = once(comfy, 'connection');
  bridge.start();
  await first;
  await waitForState(bridge, 'connected');

  await comfy.stop();
  await waitForState(bridge, 'waiting');
  assert.equal(asked[0]?.attempt, 1);
  assert.equal(typeof asked[0]?.code, 'number', 'the policy is shown the close code');
  const again = once(comfy, 'connection');
  await comfy.start();
  await again;
  await waitForState(bridge, 'connected');
  assert.deepEqual(states.slice(0, 3), ['connecting', 'connected', 'waiting']);
  assert.equal(states.at(-1), 'connected');
  assert.ok(notices.some((n) => /disconnected; reconnecting/.test(n)), notices.join('\n'));
  await bridge.stop();
  assert.equal(bridge.state, 'stopped');
});

function waitForState(bridge: ComfyUiBridge, state: string): Promise<void> {
  if (bridge.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const listener = ({ newState }: { newState: string }) => {
      if (newState !== state) return;
      bridge.off('state:change', listener);
      resolve();
    };
    bridge.on('state:change', listener);
  });
}
