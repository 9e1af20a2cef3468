import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveController, TIERS } from '../src/hub/adaptive-controller.js';
import { Variant } from '../src/hub/variant.js';
import type { Frame } from '../src/sources/frame.js';
import { framePayload, parseSessionEvent } from '../src/protocols/socket-io-session.js';
import { preframedSocketIoEvent } from '../src/server/preframed.js';
import { Server as SocketIoServer } from 'socket.io';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { InputError, MAX_TEXT_LENGTH, parseInput } from '../src/sessions/input.js';
import { networkInterfaces } from 'node:os';
import { isForbiddenAddress, isOwnAddress, UrlGuard, UrlRefused } from '../src/sessions/url-guard.js';
import { GuardProxy } from '../src/sessions/guard-proxy.js';
import { connect as connectTcp } from 'node:net';
import { FakeClock } from './fake-clock.js';

const MBPS = 1_000_000 / 8; // bytes per second in one megabit per second

/**
 * Feeds deliveries of `bytes` each over a link of `mbps`, offered at `fps`, for `seconds`:
 * like a subscriber slot, the next write starts only when the previous one completed.
 */
async function feed(controller: AdaptiveController, clock: FakeClock, mbps: number, seconds: number, fps = 20, bytes = 20_000) {
  const changes: string[] = [];
  const busy = (bytes / (mbps * MBPS)) * 1000;
  const end = clock.now() + seconds * 1000;
  while (clock.now() < end) {
    await clock.advance(Math.max(1000 / fps, busy));
    const tier = controller.record(bytes, busy);
    if (tier) changes.push(tier.name);
  }
  return changes;
}

describe('AdaptiveController', () => {
  it('starts at the normal tier and moves to the seeds/003 tier of the delivered bandwidth', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ clock });
    assert.equal(controller.tier, TIERS.normal);
    assert.deepEqual(await feed(controller, clock, 50, 6), ['fast']);
    assert.deepEqual(controller.tier, { name: 'fast', quality: 90, fps: 30 });
    // Down by the margins, possibly through normal while the window still holds fast samples.
    assert.ok(['slow', 'normal,slow'].includes((await feed(controller, clock, 1, 5)).join(',')));
    assert.deepEqual(controller.tier, { name: 'slow', quality: 50, fps: 10 });
    assert.deepEqual(await feed(controller, clock, 3.5, 7), ['normal']);
    assert.deepEqual(controller.tier, { name: 'normal', quality: 75, fps: 20 });
  });

  it('does not flap around a tier edge (hysteresis)', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ clock, initial: 'normal' });
    // Alternating just above and below 5 Mbps: inside the 20 % margin, so no change.
    const changes: string[] = [];
    for (let i = 0; i < 10; i++) changes.push(...await feed(controller, clock, i % 2 ? 5.4 : 4.6, 1));
    assert.deepEqual(changes, []);
    assert.equal(controller.tier.name, 'normal');
  });

  it('steps up only after upDwellMs and needs a few samples first', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ clock, upDwellMs: 3000 });
    // Fast link from the start: the first change waits for the dwell time.
    await clock.advance(10);
    assert.equal(controller.record(20_000, 1), undefined);
    assert.equal(controller.bandwidth(), undefined);
    const changes = await feed(controller, clock, 100, 2.5);
    assert.deepEqual(changes, []);
    assert.deepEqual(await feed(controller, clock, 100, 1), ['fast']);
  });

  it('counts a long stall among instant writes as a slow link (bursty kernel buffers)', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ clock, initial: 'fast', minDwellMs: 0 });
    // Twenty instant writes (the socket buffer absorbing them), then one that waits 8 s for it to drain.
    for (let i = 0; i < 20; i++) {
      await clock.advance(33);
      controller.record(50_000, 0.2);
    }
    await clock.advance(8000);
    assert.equal(controller.record(50_000, 8000)?.name, 'slow');
  });

  it('measures what was delivered: fast writes of big frames count as a fast link', async () => {
    const clock = new FakeClock();
    const controller = new AdaptiveController({ clock, minDwellMs: 0, upDwellMs: 0, initial: 'fast' });
    for (let i = 0; i < 4; i++) {
      await clock.advance(100);
      controller.record(100_000, 10); // 100 kB in 10 ms = 80 Mbps
    }
    assert.ok(controller.bandwidth()! > 50_000_000);
  });
});

describe('Socket.IO session codec', () => {
  it('turns seeds/003 events into typed commands', async () => {
    assert.deepEqual(parseSessionEvent('subscribe', [{ session_id: 'a' }]), { type: 'subscribe', target: { kind: 'session', sessionId: 'a' } });
    assert.deepEqual(parseSessionEvent('unsubscribe', []), { type: 'unsubscribe' });
    assert.deepEqual(parseSessionEvent('quality:set', [{ quality: 75 }]), { type: 'quality', quality: 75 });
    assert.deepEqual(parseSessionEvent('fps:set', [{ fps: 30 }]), { type: 'fps', fps: 30 });
    assert.deepEqual(parseSessionEvent('adaptive:toggle', [{ enabled: false }]), { type: 'adaptive', enabled: false });
    assert.deepEqual(parseSessionEvent('input:click', [{ x: 1, y: 2 }, () => {}]), { type: 'input', input: 'click', payload: { x: 1, y: 2 } });
    assert.deepEqual(parseSessionEvent('input:key', [{ key: 'Enter' }]), { type: 'input', input: 'key', payload: { key: 'Enter' } });
  });

  it('refuses anything else with a ProtocolError', async () => {
    const bad: [string, unknown[]][] = [
      ['subscribe', []], ['subscribe', [{ session_id: 3 }]], ['quality:set', [{ quality: 9 }]], ['quality:set', [{ quality: 101 }]],
      ['fps:set', [{ fps: 61 }]], ['fps:set', [{ fps: 2.5 }]], ['adaptive:toggle', [{ enabled: 'true' }]], ['__proto__', [{}]],
      ['toString', []], ['input:teleport', [{}]],
    ];
    for (const [event, args] of bad) assert.throws(() => parseSessionEvent(event, args), ProtocolError, `${event} ${JSON.stringify(args)}`);
  });

  it('builds the frame packet once per variant, with socket.io\'s encoder, framed for engine.io over WebSocket', async () => {
    const frame: Frame = { bytes: Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]), format: 'jpeg', width: 1, height: 1, seq: 1, capturedAt: 1_700_000_000_123.4 };
    const variant = new Variant(frame, frame.bytes, 'jpeg', 1, 1, true);
    const io = new SocketIoServer(); // not attached: no engine, nothing to close
    const packet = preframedSocketIoEvent(variant, 'socket.io:frame', io.encoder, 'frame', framePayload);
    assert.equal(preframedSocketIoEvent(variant, 'socket.io:frame', io.encoder, 'frame', framePayload), packet);
    const [message] = packet.messages;
    assert.equal(packet.messages.length, 1);
    assert.equal(typeof message!.data, 'string');
    const data = message!.data as string;
    assert.ok(data.startsWith('2'));
    assert.deepEqual(JSON.parse(data.slice(1)), ['frame', { image: frame.bytes.toString('base64'), timestamp: 1_700_000_000_123, size: 6 }]);
    // A text WebSocket frame (2-byte header) of engine.io's message type `4` and the packet.
    assert.equal(message!.frame.bytes.subarray(2).toString(), `4${data}`);
  });
});

describe('input validation', () => {
  const viewport = { width: 320, height: 240 };
  it('accepts events inside the page', async () => {
    assert.deepEqual(parseInput('click', { x: 320, y: 0 }, viewport), { type: 'click', x: 320, y: 0, button: 'left' });
    assert.deepEqual(parseInput('scroll', { deltaX: 0, deltaY: -50 }, viewport), { type: 'scroll', deltaX: 0, deltaY: -50 });
    assert.deepEqual(parseInput('text', { text: 'x'.repeat(MAX_TEXT_LENGTH) }, viewport).type, 'text');
    assert.deepEqual(parseInput('key', { key: 'Shift+Tab' }, viewport), { type: 'key', key: 'Shift+Tab' });
  });
  it('refuses non-finite, out-of-range and oversized values', async () => {
    for (const [type, payload] of [
      ['click', { x: Number.NaN, y: 1 }], ['click', { x: Infinity, y: 1 }], ['click', { x: 321, y: 1 }], ['move', { x: 1, y: -0.5 }],
      ['scroll', { deltaY: Number.POSITIVE_INFINITY }], ['text', { text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }], ['key', { key: '' }],
      ['key', { key: 'Control+Alt+Shift+Meta+Control+a' }], ['click', null], ['text', 'hi'],
    ] as const) {
      assert.throws(() => parseInput(type, payload, viewport), InputError, `${type} ${JSON.stringify(payload)}`);
    }
  });
});

describe('URL guard', () => {
  it('knows loopback, private, link-local and unspecified addresses', async () => {
    for (const address of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1']) {
      assert.equal(isForbiddenAddress(address), true, address);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8']) assert.equal(isForbiddenAddress(address), false, address);
  });

  it('judges IPv6 forms that carry an IPv4 address by the address they carry, and allows only public unicast', () => {
    const forbidden = [
      '::ffff:7f00:1', '::127.0.0.1', '::a00:1', // IPv4-mapped (hex) and IPv4-compatible
      '64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe', // NAT64 to loopback, private, metadata
      '2002:7f00:1::1', '2002:c0a8:101::', // 6to4 carrying 127.0.0.1 and 192.168.1.1
      '2001:0:7f00:1:0:0:f5ff:fffe', // Teredo: server 127.0.0.1
      '2001:0:808:808:0:0:f5ff:fffe', // Teredo: client 10.0.0.1 (inverted), server 8.8.8.8
      'fec0::1', 'fe80::1%eth0', '2001:db8::1', '100::1', '64:ff9b:1::1', 'ff02::1', '192.0.2.1', '203.0.113.9',
    ];
    for (const address of forbidden) assert.equal(isForbiddenAddress(address), true, address);
    for (const address of ['64:ff9b::808:808', '2002:808:808::1', '2001:0:808:808:0:0:f7f7:f7f7', '2a00:1450:4001:80b::200e']) {
      assert.equal(isForbiddenAddress(address), false, address);
    }
  });

  it("refuses this host's own interface addresses, and says nothing of what a name resolves to", async () => {
    const own = Object.values(networkInterfaces()).flat().map((entry) => entry!.address);
    assert.ok(own.length > 0);
    for (const address of own) assert.equal(isOwnAddress(address), true, address);
    const guard = new UrlGuard('', async () => [own.find((a) => !a.startsWith('127.') && a !== '::1') ?? own[0]!]);
    await assert.rejects(guard.check('http://me.test/'), (e: UrlRefused) => e.status === 403 && !own.some((a) => e.message.includes(a)));
  });

  it('checks what a name resolves to, and BROWSER_ALLOW_HOSTS lifts the check', async () => {
    const dns: Record<string, string[]> = { 'public.test': ['93.184.216.34'], 'sneaky.test': ['93.184.216.34', '10.0.0.7'], 'intranet.test': ['192.168.1.10'] };
    const resolve = async (host: string) => {
      const found = dns[host];
      if (!found) throw new Error('ENOTFOUND');
      return found;
    };
    const guard = new UrlGuard('intranet.test, 127.0.0.1', resolve);
    assert.equal((await guard.check('https://public.test/a')).hostname, 'public.test');
    await assert.rejects(guard.check('http://sneaky.test/'), (e: UrlRefused) => e.status === 403 && /sneaky\.test resolves to a loopback/.test(e.message) && !e.message.includes('10.0.0.7'));
    await assert.rejects(guard.check('http://nowhere.test/'), (e: UrlRefused) => e.status === 502 && /does not resolve/.test(e.message));
    await assert.rejects(guard.check('gopher://public.test/'), (e: UrlRefused) => e.status === 400);
    assert.deepEqual(await guard.admit('intranet.test'), { ok: true, address: '192.168.1.10' });
    assert.deepEqual(await guard.admit('127.0.0.1'), { ok: true, address: '127.0.0.1' });
    assert.equal((await guard.admit('127.0.0.2')).ok, false);
    const open = new UrlGuard('*', resolve);
    assert.deepEqual(await open.admit('intranet.test'), { ok: true, address: '192.168.1.10' });
  });
});

describe('guard proxy', () => {
  /** Sends raw bytes to the proxy, resolves with the status line of the answer. */
  async function raw(proxyUrl: string, request: string): Promise<string> {
    const { port } = new URL(proxyUrl);
    const socket = connectTcp(Number(port), '127.0.0.1');
    socket.write(request);
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    await new Promise((resolve) => socket.on('close', resolve).on('end', resolve));
    socket.destroy();
    return text.split('\r\n')[0]!;
  }

  it('refuses private targets, malformed requests and bad ports without falling over', async (t) => {
    const proxy = new GuardProxy(new UrlGuard(''));
    const url = await proxy.listen();
    t.after(() => proxy.close());
    assert.match(await raw(url, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw(url, 'GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 403/);
    assert.match(await raw(url, 'GET ftp://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw(url, 'CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n'), /^HTTP\/1.1 403/);
    assert.match(await raw(url, 'CONNECT 10.0.0.1:99999 HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 400/);
    assert.match(await raw(url, 'CONNECT nonsense HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 400/);
    // Still serving after all that.
    assert.match(await raw(url, 'CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 403/);
  });
});
