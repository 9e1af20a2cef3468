// Unit tests of the Socket.IO events' parser (src/protocols/socket-io-session.ts): an event name
// and its arguments in, a typed command out. No sockets; the frame packet is the framing module's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../src/wire/errors.js';
import { ProtocolError } from '../src/protocols/protocol-error.js';
import { parseSessionEvent } from '../src/protocols/socket-io-session.js';
import { assertOnlyDefinedErrors, assertRefuses } from './codec-cases.js';

describe('socket-io-session: subscribe', () => {
  it('reads seeds/003\'s {session_id} and the {stream} form', () => {
    assert.deepEqual(parseSessionEvent('subscribe', [{ session_id: 'kiosk' }]), { type: 'subscribe', target: { kind: 'session', sessionId: 'kiosk' } });
    assert.deepEqual(parseSessionEvent('subscribe', [{ stream: 'demo' }]), { type: 'subscribe', target: { kind: 'stream', streamId: 'demo' } });
    // The id is checked where it is resolved (the hub), as on /stream/:id; the codec only wants a string.
    assert.deepEqual(parseSessionEvent('subscribe', [{ stream: 'session:kiosk', other: 1 }]), { type: 'subscribe', target: { kind: 'stream', streamId: 'session:kiosk' } });
    // An ack callback passed last carries no data.
    assert.deepEqual(parseSessionEvent('subscribe', [{ stream: '0' }, () => {}]), { type: 'subscribe', target: { kind: 'stream', streamId: '0' } });
  });

  it('refuses neither, both, or a non-string with invalid_message', () => {
    assertRefuses(() => parseSessionEvent('subscribe', [{}]), ProtocolError, ErrorCode.InvalidMessage, /^subscribe needs \{session_id: string\} or \{stream: string\}/);
    assertRefuses(() => parseSessionEvent('subscribe', [{ session_id: 'a', stream: 'demo' }]), ProtocolError, ErrorCode.InvalidMessage, /not both/);
    for (const stream of ['', 5, null, ['demo'], { id: 'demo' }, true]) {
      assertRefuses(() => parseSessionEvent('subscribe', [{ stream }]), ProtocolError, ErrorCode.InvalidMessage, /^subscribe needs \{stream: string\}/);
    }
    assertRefuses(() => parseSessionEvent('subscribe', ['demo']), ProtocolError, ErrorCode.InvalidMessage, /needs an object payload/);
  });

  it('throws nothing but its own refusals, whatever the payload', () => {
    const payloads: unknown[] = [
      undefined, null, 0, -0, 1e308, 'x', [], [{ stream: 'demo' }], Buffer.from('x'), { stream: Buffer.from('demo') },
      JSON.parse('{"__proto__":{"stream":"demo"}}'), { stream: '\ud800' }, { session_id: { toString: 'x' } }, Object.create(null),
    ];
    const refused = assertOnlyDefinedErrors(payloads, (payload) => parseSessionEvent('subscribe', [payload]), ProtocolError, [ErrorCode.InvalidMessage]);
    assert.equal(refused, payloads.length - 1, 'only {stream: "\\ud800"} is a string id');
  });
});
