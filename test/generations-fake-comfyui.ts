import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';

/**
 * A stand-in for ComfyUI that speaks its protocol byte for byte: `/ws?clientId=` with JSON
 * written the way Python's `json.dumps` writes it (`", "` and `": "` separators), binary
 * previews as big-endian event type 1 + image format (1 JPEG, 2 PNG) + bytes, and the HTTP
 * endpoints `/view`, `/queue` and `/history/<id>`. It runs prompts on command, not by itself.
 */
export class FakeComfyUi extends EventEmitter {
  server: Server | undefined;
  wss: WebSocketServer | undefined;
  port = 0;
  readonly files = new Map<string, { bytes: Buffer; mime: string }>();
  readonly running = new Map<string, { graph: Record<string, unknown>; clientId: string }>();
  readonly history = new Map<string, unknown>();
  readonly clients = new Map<string, WebSocket>();
  /** Every request path seen, for assertions. */
  readonly requests: string[] = [];
  /** The next this-many `/view` requests answer 503 (a ComfyUI busy or restarting). */
  viewFailures = 0;

  async start(port = this.port): Promise<void> {
    const server = createServer((req, res) => this.#http(req, res));
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/ws') return socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      wss.handleUpgrade(req, socket, head, (ws) => {
        // ComfyUI: a missing clientId gets a fresh one; the first message is the status with the sid.
        const sid = url.searchParams.get('clientId') ?? Math.random().toString(16).slice(2);
        this.clients.set(sid, ws);
        ws.on('close', () => this.clients.get(sid) === ws && this.clients.delete(sid));
        ws.send(pyJson({ type: 'status', data: { status: { exec_info: { queue_remaining: this.running.size } }, sid } }));
        this.emit('connection', sid);
      });
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.wss = wss;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Like killing the ComfyUI process: connections drop without a close handshake. */
  async stop(): Promise<void> {
    for (const ws of this.clients.values()) ws.terminate();
    this.clients.clear();
    this.wss?.close();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sends one JSON message to the client with `sid` (ComfyUI's send_sync with a sid). */
  send(sid: string, type: string, data: Record<string, unknown>): void {
    this.clients.get(sid)?.send(pyJson({ type, data }));
  }

  /** A binary PREVIEW_IMAGE event: `>I` 1, `>I` format (1 JPEG, 2 PNG), the image. */
  sendPreview(sid: string, format: 'JPEG' | 'PNG', image: Buffer): void {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(format === 'JPEG' ? 1 : 2, 4);
    this.clients.get(sid)?.send(Buffer.concat([header, image]));
  }

  /** Queues a prompt as running (visible in `/queue`) and stores its output files for `/view`. */
  queue(promptId: string, sid: string, graph: Record<string, unknown>, outputs: { filename: string; bytes: Buffer }[]): void {
    this.running.set(promptId, { graph, clientId: sid });
    for (const o of outputs) this.files.set(`output//${o.filename}`, { bytes: o.bytes, mime: 'image/png' });
  }

  /** Marks a prompt finished in `/history` (what ComfyUI keeps after a run). */
  finish(promptId: string, outputs: { filename: string }[], status: 'success' | 'error' = 'success'): void {
    const run = this.running.get(promptId);
    this.running.delete(promptId);
    this.history.set(promptId, {
      prompt: [0, promptId, run?.graph ?? {}, { client_id: run?.clientId }, ['9']],
      outputs: { 9: { images: outputs.map((o) => ({ filename: o.filename, subfolder: '', type: 'output' })) } },
      status: { status_str: status, completed: status === 'success', messages: [] },
    });
  }

  #http(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname + url.search);
    if (url.pathname === '/view') {
      if (this.viewFailures > 0) {
        this.viewFailures--;
        return void res.writeHead(503).end();
      }
      const key = `${url.searchParams.get('type')}/${url.searchParams.get('subfolder')}/${url.searchParams.get('filename')}`;
      const file = this.files.get(key);
      if (!file) return void res.writeHead(404).end();
      return void res.writeHead(200, { 'content-type': file.mime, 'content-length': file.bytes.length }).end(file.bytes);
    }
    if (url.pathname === '/queue') {
      const running = [...this.running].map(([id, p], i) => [i, id, p.graph, { client_id: p.clientId }, ['9']]);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(pyJson({ queue_running: running, queue_pending: [] }));
    }
    const history = /^\/history\/(.+)$/.exec(url.pathname);
    if (history) {
      const id = decodeURIComponent(history[1]!);
      const entry = this.history.get(id);
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(pyJson(entry ? { [id]: entry } : {}));
    }
    res.writeHead(404).end();
  }
}

/** JSON as Python's `json.dumps` writes it by default: `", "` between items, `": "` after keys, non-ASCII escaped. */
export function pyJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`).join(', ')}}`;
}

/** The API-format graph of a plain txt2img workflow, as ComfyUI's /queue returns it. */
export function txt2imgGraph(prompt: string, negative: string, seed: number, width: number, height: number): Record<string, unknown> {
  return {
    3: { class_type: 'KSampler', inputs: { seed, steps: 3, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
    4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5.safetensors' } },
    5: { class_type: 'EmptyLatentImage', inputs: { width, height, batch_size: 2 } },
    6: { class_type: 'CLIPTextEncode', inputs: { text: prompt, clip: ['4', 1] } },
    7: { class_type: 'CLIPTextEncode', inputs: { text: negative, clip: ['4', 1] } },
    8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    9: { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
  };
}
