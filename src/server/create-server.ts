import Fastify, { type FastifyInstance } from 'fastify';
import type { WebSocketServer } from 'ws';
import type { Server as SocketIoServer } from 'socket.io';
import type { Config } from '../config/config.js';
import { Hub } from '../hub/hub.js';
import { Stream } from '../hub/stream.js';
import { SharpEncoder, type Encoder } from '../hub/encoder.js';
import { createSource } from '../sources/create-source.js';
import { CloseCode } from '../wire/close-codes.js';
import { UpgradeRouter } from './upgrade-router.js';
import { ConnectionCaps } from './connection-caps.js';
import { registerJsonBodyParser } from './json-body.js';
import { answerErrors } from './route-errors.js';
import { createNodeServer, reloadTls } from './node-server.js';
import { gateHook, requestGate } from './request-gate.js';
import { registerWebSecurity } from './web-security.js';
import { closeSocket } from './ws-close.js';
import { startHeartbeat } from './heartbeat.js';
import { registerHttpRoutes } from './http-routes.js';
import { registerMetricsRoute } from './metrics-route.js';
import { streamRoute } from './stream-route.js';
import { videoRoute } from './video-route.js';
import { VideoTiers } from '../hub/video-tiers.js';
import { videoFeedRoute } from './video-feed-route.js';
import { refuse, type RouteContext } from './route-context.js';
import { Access, openWarning } from './access.js';
import { createGenerationsModule } from './generations-module.js';
import { streamingRoute } from './streaming-route.js';
import { eventsRoute } from './events-route.js';
import { registerPublishRoutes } from './publish-routes.js';
import { registerGalleryRoutes } from './gallery-routes.js';
import { producerRefusal, producerRoute } from './producer-socket.js';
import { SessionRegistry } from '../sessions/session-registry.js';
import { registerSessionRoutes } from './session-routes.js';
import { attachSocketIo } from './socket-io.js';
import { installScreenCapture } from './screen-capture.js';
import { registerWindowsRoute } from './windows-route.js';
import { Cluster } from '../cluster/cluster.js';
import { nodeReport, registerClusterRoute } from './cluster-route.js';
import { createAdapter } from '@socket.io/redis-adapter';
import { clusterSessions } from './cluster-sessions.js';
import { registerParticipantRoutes } from './participant-routes.js';
import { Recordings } from '../recording/recordings.js';
import { registerRecordingRoutes } from './recording-routes.js';
import { PlaybackStreams } from '../recording/playback-streams.js';
import { registerPlaybackRoutes } from './playback-routes.js';
import { ShareLinks, type ShareRegistry, type WallClock } from './share-links.js';
import { ClusterShareLinks } from './cluster-share-links.js';
import { registerShareRoutes } from './share-routes.js';

export interface FramehubServer {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly hub: Hub;
  /** Live browser sessions (seeds/003). */
  readonly sessions: SessionRegistry;
  /** The Socket.IO server (seeds/003's events); in a cluster, on the Redis adapter. */
  readonly io: SocketIoServer;
  /** This node in its cluster (REDIS_URL); `undefined` for a single node. */
  readonly cluster: Cluster | undefined;
  /** The H.264 tiers being encoded (`/video/:id`). */
  readonly videoTiers: VideoTiers;
  /** Recordings on disk and under way (docs/recording.md). */
  readonly recordings: Recordings;
  /** Starts listening; resolves with the address actually bound (port 0 picks a free one). */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Loads TLS_CERT/TLS_KEY again for new connections (SIGHUP); false when TLS is off. */
  reloadTls(): Promise<boolean>;
  /** Closes every client, stops every source, closes the HTTP server. Safe to call twice. */
  close(): Promise<void>;
}

/** Resolves once every client has answered its close frame, or after `ms` (a stalled peer may never answer). */
function closeHandshakes(wss: WebSocketServer, ms: number): Promise<void> {
  const open = [...wss.clients].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([Promise.all(open).then(() => undefined), late]).finally(() => clearTimeout(timer));
}

export interface ServerOptions {
  encoder?: Encoder;
  /** The share links' clock (their expiry); tests move one themselves. @default the wall clock */
  shareClock?: WallClock;
}

/** The composition root: builds the parts and wires them together, nothing more. */
export async function createServer(config: Config, options: ServerOptions = {}): Promise<FramehubServer> {
  const app = Fastify({
    logger: { level: config.logLevel },
    forceCloseConnections: true,
    // Long ids reach the routes, which answer them their own 400/404 (Fastify's default of 100
    // characters answered 414 in a shape no route documents); Node's 16 KiB header limit still holds.
    routerOptions: { maxParamLength: 16 * 1024 },
    serverFactory: (handler) => createNodeServer(config, handler),
  });
  registerJsonBodyParser(app);
  // Routes outside a scope of their own answer errors as `{error: <code>, message}`.
  answerErrors(app, 'request', (refusal) => ({ error: refusal.code, message: refusal.message }));
  const gate = requestGate(config);
  app.addHook('onRequest', gateHook(gate));
  await registerWebSecurity(app, config);
  const encoder = options.encoder ?? new SharpEncoder();

  // Without REDIS_URL nothing below touches Redis: one node, everything in this process.
  const cluster = config.redis ? await Cluster.join({ url: config.redis, log: app.log, nodeName: config.nodeName }) : undefined;
  const hub = new Hub(config.primaryStream);
  for (const [id, streamConfig] of Object.entries(config.streams)) {
    const local = createSource(id, streamConfig, {
      quality: config.quality, captureFps: config.captureFps, log: app.log.child({ stream: id }), ...(config.display && { display: config.display }),
    });
    const source = cluster ? cluster.wrapSource(id, local, streamConfig.node) : local;
    hub.add(new Stream(id, source, encoder, { idleGraceMs: config.idleGrace * 1000, label: id.toUpperCase() }));
  }

  const context: RouteContext = { hub, config, log: app.log };
  // Every route asks this one object for its scope (docs/security.md has the table).
  // Share links (share-links.ts) sign with JWT_SECRET, else SHARE_SECRET, else a key of this
  // process only; in a cluster they live in Redis (cluster-share-links.ts), signed with the
  // cluster's key when neither secret is set, so a link works on every node.
  const shareOptions = {
    ...((config.jwtSecret || config.shareSecret) && { secret: config.jwtSecret || config.shareSecret }),
    onError: (error: unknown) => app.log.error({ err: error }, 'ending a share link\'s connection failed'),
    ...(options.shareClock && { clock: options.shareClock }),
  };
  let shares: ShareRegistry;
  if (cluster) {
    const clustered = new ClusterShareLinks({ redis: cluster.redis, subscriber: cluster.subscriber, ...shareOptions });
    await clustered.start();
    shares = clustered;
  } else {
    shares = new ShareLinks(shareOptions);
  }
  const access = new Access(config, shares);
  const caps = new ConnectionCaps(config.maxConnections, config.maxConnectionsPerIp);
  const router = new UpgradeRouter({ maxPayload: config.maxPayload, caps, log: app.log, gate });
  router.add('/stream/:id', access.upgrade((_req, _url, params) => hub.viewNeed(params['id'] ?? ''), streamRoute(context), refuse, app.log));
  router.add('/ws/video_feed', access.upgrade((_req, url) => hub.viewNeed(url.searchParams.get('stream') ?? '0'), videoFeedRoute(context), refuse, app.log));
  const videoTiers = new VideoTiers({ idleGraceMs: config.idleGrace * 1000, onError: (error) => app.log.warn({ err: error }, 'h264 encoder') });
  router.add('/video/:id', access.upgrade((_req, _url, params) => hub.viewNeed(params['id'] ?? ''), videoRoute(context, videoTiers), refuse, app.log));
  const recordings = new Recordings({
    dir: config.recordingsDir, tiers: videoTiers, log: app.log.child({ part: 'recordings' }),
    // Called when a recording starts, by then the registry below exists.
    activityOf: (stream) => sessions.sessionOf(stream)?.activity,
    settings: config.streams,
  });
  await recordings.load();
  // `recording:<id>`: a recording played back as a stream; watched on the terms of its download.
  const playbacks = new PlaybackStreams({ recordings, encoder, idleGraceMs: config.idleGrace * 1000, quality: config.quality, log: app.log.child({ part: 'playback' }) });
  hub.addResolver(playbacks.resolve);
  hub.addViewNeed(playbacks.viewNeed);
  const generations = await createGenerationsModule(config, { hub, encoder, logger: app.log, cluster });
  router.add('/ws/streaming', access.upgrade(() => 'view', streamingRoute(context, generations), refuse, app.log));
  // /ws checks its own token (through `access`): its refusals are seeds/001 envelopes, its replay starts at the upgrade.
  router.add('/ws', eventsRoute(context, generations, access));
  router.add('/ws/producer', access.upgrade(() => 'publish', producerRoute(context, generations, config), producerRefusal, app.log));
  router.attach(app.server);
  const stopHeartbeat = startHeartbeat(router.wss, config.pingInterval * 1000);

  registerHttpRoutes(app, hub, access);
  registerMetricsRoute(app, hub, access, recordings);
  registerPublishRoutes(app, generations, access, config);
  registerGalleryRoutes(app, generations.store, access);
  installScreenCapture({ hub, config, encoder, log: app.log });
  registerWindowsRoute(app, config, access);

  // In a cluster every node serves every session: frames through Redis, calls forwarded to its node.
  const sharedSessions = cluster ? clusterSessions(cluster, { encoder, idleGraceMs: config.idleGrace * 1000, log: app.log }) : undefined;
  const sessions = new SessionRegistry({
    maxSessions: config.maxSessions,
    maxSessionsPerIp: config.maxSessionsPerIp,
    // An open server gives no session an owner, so the per-user cap counts nothing there.
    maxSessionsPerOwner: config.maxSessionsPerUser,
    timeoutMs: config.sessionTimeout * 1000,
    maxLifetimeMs: config.sessionMaxLifetime * 1000,
    chromePath: config.chromePath,
    browserUser: config.browserUser,
    memoryLimitMb: config.sessionMemoryLimit,
    onWarning: (message) => app.log.warn(message),
    browserAllowHosts: config.browserAllowHosts,
    encoder,
    idleGraceMs: config.idleGrace * 1000,
    controlIdleMs: config.sessionControlIdle * 1000,
    onBackgroundError: (error) => app.log.warn({ err: error }, 'browser session'),
    // Ids and caps cluster-wide (session-directory.ts).
    ...sharedSessions?.registryHooks,
  });
  hub.addResolver(sessions.resolveStream);
  if (sharedSessions) hub.addResolver(sharedSessions.remote.resolveStream);
  registerSessionRoutes(app, sessions, access, { quality: config.quality, fps: 30, width: 1280, height: 720 }, sharedSessions?.forward, sharedSessions?.visitorOf);
  registerShareRoutes(app, hub, sessions, access, shares, sharedSessions && ((id) => sharedSessions.directory.lookup(id)));
  // A new session under a closed one's id must not inherit its links.
  sessions.on('session:closed', function sessionsOnClosed({ id }) {
    // Redis away: the links stay until they expire; a new session under this id is unlikely (ids are random unless named).
    Promise.resolve(shares.dropTarget(`session:${id}`)).catch((error: unknown) => app.log.warn({ err: error, session: id }, 'ending a closed session\'s share links'));
  });
  // After the session resolver (the hub resolves `session:<id>` streams at request time either way).
  registerRecordingRoutes(app, hub, recordings, access);
  registerPlaybackRoutes(app, hub, access);
  const io = attachSocketIo(app.server, {
    hub, registry: sessions, access, log: app.log, maxPayload: config.maxPayload, caps, gate, allowedOrigins: config.allowedOrigins,
    // Broadcasts, fetchSockets() and serverSideEmit reach every node's sockets (docs/cluster.md
    // says why the pub/sub adapter): it uses the node's own two connections.
    ...(cluster && { adapter: createAdapter(cluster.redis, cluster.subscriber) }),
    ...(sharedSessions && { remote: { sessions: sharedSessions.remote, forward: sharedSessions.forward, participants: sharedSessions.participants } }),
  });
  if (sharedSessions) {
    // Other nodes' Socket.IO viewers of this node's sessions (visiting-participants.ts).
    sharedSessions.visiting.attach(io);
    registerParticipantRoutes(app, sessions, access, sharedSessions.forward, sharedSessions.visiting);
  }
  if (cluster) {
    registerClusterRoute(app, cluster, access);
    await cluster.start(() => nodeReport(hub, cluster, sessions, sharedSessions && ((id) => sharedSessions.directory.holds(id)), sharedSessions?.participants));
    await sharedSessions?.start(sessions);
  }
  await app.ready();

  let closing: Promise<void> | undefined;
  return {
    config,
    app,
    hub,
    sessions,
    io,
    cluster,
    videoTiers,
    recordings,
    async listen() {
      await app.listen({ port: config.port, host: config.host });
      const warning = access.open ? openWarning(config.host) : undefined;
      if (warning) app.log.warn(warning);
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.port;
      const host = config.host === '0.0.0.0' ? 'localhost' : config.host;
      const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${port}`;
      cluster?.node.setUrl(url);
      // Pre-record buffers and always-on recordings (streams' `prerecord`, `record`) once serving.
      await recordings.startConfigured((id) => hub.resolve(id));
      return { host: config.host, port, url };
    },
    reloadTls: () => reloadTls(app.server, config),
    close() {
      closing ??= (async () => {
        // Stop accepting first; app.close() below closes the rest (and ignores the second close).
        app.server.close();
        stopHeartbeat();
        // Publishes under way finish (on disk, answered, sent to consumers) before anyone is closed.
        await generations.close();
        for (const ws of router.wss.clients) closeSocket(ws, CloseCode.GoingAway, 'server shutting down');
        // Before the tiers: each recorder ends its ffmpeg's input, so its file ends on a whole fragment.
        await playbacks.close();
        await recordings.close();
        await videoTiers.close();
        await hub.close();
        // Not io.close(): that would close the HTTP server under Fastify.
        // This node's sockets only: through a cluster adapter a plain disconnectSockets() would
        // disconnect every node's clients.
        io.local.disconnectSockets(true);
        io.engine.close();
        // The adapter's unsubscribes go out before the connections close (cluster.close() below
        // waits for them); with Redis away there is nothing to unsubscribe from.
        if (cluster?.subscriber.isReady) void io.of('/').adapter.close();
        await sessions.close();
        // After the registry: its sessions' ids are released (and their viewers elsewhere told) first.
        await sharedSessions?.close();
        await shares.close();
        await closeHandshakes(router.wss, 2_000);
        for (const ws of router.wss.clients) ws.terminate();
        router.wss.close();
        await app.close();
        // Last: the streams above have stopped and released their leases through it.
        await cluster?.close();
      })();
      return closing;
    },
  };
}
