import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config/config.js';

function yamlFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'framehub-config-')), 'framehub.yaml');
  writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('has the seeds\' defaults and a demo stream', () => {
    const config = loadConfig();
    assert.equal(config.port, 8080);
    assert.equal(config.frameRate, 30);
    assert.equal(config.quality, 80);
    assert.equal(config.maxClients, 10);
    assert.equal(config.pingInterval, 30);
    assert.equal(config.sessionTimeout, 300);
    assert.equal(config.primaryStream, 'demo');
    assert.equal(config.streams['demo']?.source, 'pattern');
  });

  it('reads the seeds\' environment names', () => {
    const config = loadConfig({
      env: { PORT: '9001', HOST: '127.0.0.1', WS_FRAME_RATE: '15', WS_QUALITY: '60', WS_MAX_CLIENTS: '3', WS_PING_INTERVAL: '5', SESSION_TIMEOUT: '600' },
    });
    assert.deepEqual(
      [config.port, config.host, config.frameRate, config.quality, config.maxClients, config.pingInterval, config.sessionTimeout],
      [9001, '127.0.0.1', 15, 60, 3, 5, 600],
    );
  });

  it('takes flags over env over the YAML file over defaults', () => {
    const file = yamlFile('port: 7000\nquality: 50\nframeRate: 20\n');
    const config = loadConfig({ file, env: { WS_QUALITY: '60', WS_FRAME_RATE: '25' }, flags: { 'frame-rate': '12' } });
    assert.equal(config.port, 7000, 'from the file');
    assert.equal(config.quality, 60, 'env beats the file');
    assert.equal(config.frameRate, 12, 'a flag beats env');
  });

  it('declares streams in the YAML file', () => {
    const file = yamlFile('streams:\n  lobby:\n    source: pattern\n    fps: 12\n    width: 640\n    height: 360\n  hall:\n    source: pattern\nprimaryStream: hall\n');
    const config = loadConfig({ file });
    assert.deepEqual(Object.keys(config.streams), ['lobby', 'hall']);
    assert.equal(config.streams['lobby']?.fps, 12);
    assert.equal(config.primaryStream, 'hall');
  });

  const bad: [string, Parameters<typeof loadConfig>[0], RegExp][] = [
    ['a non-numeric env value', { env: { WS_QUALITY: 'best' } }, /WS_QUALITY must be an integer from 10 to 100 \(got "best"\)/],
    ['an out-of-range flag', { flags: { port: '70000' } }, /--port must be an integer from 0 to 65535/],
    ['a fractional frame rate', { env: { WS_FRAME_RATE: '2.5' } }, /WS_FRAME_RATE must be an integer/],
    ['a zero ping interval', { env: { WS_PING_INTERVAL: '0' } }, /WS_PING_INTERVAL must be a number from 0.05/],
    ['an unknown log level', { flags: { 'log-level': 'loud' } }, /--log-level must be one of/],
    ['a missing file', { file: '/nonexistent/framehub.yaml' }, /cannot read config file/],
    ['invalid YAML', { file: yamlFile('port: [1,\n') }, /is not valid YAML/],
    ['a YAML list instead of a mapping', { file: yamlFile('- 1\n- 2\n') }, /must hold a mapping/],
    ['an unknown option in the file', { file: yamlFile('prot: 80\n') }, /unknown option "prot"/],
    ['a bad value in the file', { file: yamlFile('maxClients: -1\n') }, /maxClients must be an integer/],
    ['an unknown source kind', { file: yamlFile('streams:\n  x:\n    source: teleport\n') }, /streams.x.source must be one of/],
    ['a stream without a source', { file: yamlFile('streams:\n  x:\n    fps: 10\n') }, /source/],
    ['a bad stream setting', { file: yamlFile('streams:\n  x:\n    source: pattern\n    fps: 1000\n') }, /streams.x.fps must be an integer from 1 to 60/],
    ['stream id 0', { file: yamlFile('streams:\n  "0":\n    source: pattern\n') }, /stream id "0"/],
    ['a primary stream that does not exist', { file: yamlFile('primaryStream: nope\n') }, /primaryStream "nope" is not a declared stream/],
    ['a stream node that is no node name', { file: yamlFile('redis: redis://127.0.0.1:1\nstreams:\n  x:\n    source: pattern\n    node: "cam host!"\n') }, /streams.x.node must be a node name: 1-63 letters, digits/],
    ['a node name with a space', { env: { NODE_NAME: 'my node' } }, /NODE_NAME must be a node name/],
    ['a stream pinned to another node without a cluster', { flags: { 'node-name': 'here' }, file: yamlFile('streams:\n  x:\n    source: pattern\n    node: there\n') }, /streams.x.node is "there", but this node is "here" and joins no cluster/],
  ];
  for (const [name, inputs, message] of bad) {
    it(`refuses ${name} with a clear message`, () => {
      assert.throws(() => loadConfig(inputs), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    });
  }
});
