/**
 * The relay process: an HTTP server with a WebSocket endpoint at `/v1` speaking the mailbox protocol.
 * Enforces connection limits and rates, idle timeouts and frame sizes, prunes expired mailboxes, serves
 * `/healthz` and `/metrics`, and shuts down gracefully (stop accepting, close sockets with 1001, wait
 * for them).
 * @module
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_LIMITS, type RelayLimits } from './limits.js';
import { BACKCHANNEL_APPID } from '../src/wormhole/appid.js';
import { clientAddress, isLoopback, normaliseAddress } from './clientAddress.js';
import { renderMetrics } from './metrics.js';
import { openPersistentStore } from './pairingPersistence.js';
import { RateLimiter } from './rateLimit.js';
import { silentLogger, type Logger } from './log.js';
import { ConnectionLostError, InvalidArgumentError } from '../src/errors.js';
import { DEFAULT_DEPOT_LIMITS, Depot, type DepotLimits } from './depot.js';
import { DISCOVER_PATH } from '../src/discover/wire.js';
import { checkTopicProof } from './proofCheck.js';
import { DEFAULT_DISCOVERY_LIMITS, DiscoveryServer, type DiscoveryLimits } from './discoveryServer.js';
import { NodeFsStorage } from '../src/adapters/nodeFsStorage.js';
import { MemoryStorage } from '../src/adapters/memoryStorage.js';
import { MailboxServer, type ConnectionHandle, type ServerConnection } from './mailboxServer.js';
import { MemoryMailboxStore, type MailboxStore } from './store.js';
import { RedisDiscoveryHub } from './redisDiscoveryHub.js';
import { RedisDepotIndex } from './redisDepotIndex.js';
import { RedisStorage } from './redisStorage.js';
import { RedisMailboxStore } from './redisMailboxStore.js';
import { withoutPassword } from './redact.js';
import { batchSends } from './sendBatch.js';
import { startTransitRelay, type TransitLimits, type TransitRelay } from './transitRelay.js';

/** How `startRelay` runs: where it listens, its limits, where it keeps state (memory, a directory or Redis), logging. */
export interface RelayOptions {
  /** Port to listen on; 0 (the default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1, so nothing is exposed by accident. */
  host?: string;
  limits?: Partial<RelayLimits>;
  discoveryLimits?: Partial<DiscoveryLimits>;
  /**
   * Directory of the depot (deposits for offline contacts) and of the pairing state
   * (nameplates and mailboxes), kept on disk so a restart loses nothing. Without it both live in memory.
   */
  dataDir?: string;
  /**
   * Addresses of reverse proxies whose `X-Forwarded-For` names the client (for per-address limits).
   * From any other address the header is ignored. Default: none.
   */
  trustProxy?: readonly string[];
  /** Who may read `/metrics`: `loopback` (the default; also through a trusted proxy), `public`, or `off`. */
  metrics?: 'loopback' | 'public' | 'off';
  /** Appids whose nameplates `list` does not reveal; default Backchannel's own (BACKCHANNEL_APPID). */
  unlistedAppids?: readonly string[];
  /**
   * `redis://host:port`: keep pairing state and the depot in Redis and share DISCOVER's
   * topics with every other relay on the same Redis (scale-out). Takes precedence over `dataDir`.
   */
  redis?: string;
  /** Separates several deployments in one Redis (default `backchannel`). */
  redisNamespace?: string;
  depotLimits?: Partial<DepotLimits>;
  /**
   * Also serve the transit relay protocol (file transfers of the real wormhole tools) on this TCP
   * port, on the same interface; 0 picks a free one. Default: no transit relay.
   */
  transitPort?: number;
  transitLimits?: Partial<TransitLimits>;
  store?: MailboxStore;
  log?: Logger;
  welcome?: Record<string, unknown>;
  /** Called with every text frame the server receives and sends: for audits and tests. */
  onFrame?: (direction: 'in' | 'out', frame: string) => void;
  /** The clock, in milliseconds since the epoch (default `Date.now`); injected so tests control expiry. */
  now?: () => number;
}

/** A running relay, as `startRelay` returns it: its URLs, its services, and `close`. */
export interface Relay {
  /** `ws://host:port/v1` */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly server: MailboxServer;
  /** DISCOVER's topic routing, at `/backchannel/v2` on the same port. */
  readonly discovery: DiscoveryServer;
  /** `ws://host:port/backchannel/v2` */
  readonly discoveryUrl: string;
  /** The depot: sealed changes kept for offline contacts. */
  readonly depot: Depot;
  /** The transit relay, when `transitPort` was given (`transit.hint` is `tcp:host:port`). */
  readonly transit?: TransitRelay;
  /** Stop accepting, close every client with 1001, stop timers. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start a relay.
 * @example
 * const relay = await startRelay({ port: 4000 });
 * console.log(relay.url); // ws://127.0.0.1:4000/v1
 */
export async function startRelay(options: RelayOptions = {}): Promise<Relay> {
  const limits: RelayLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const log = options.log ?? silentLogger;
  const now = options.now ?? Date.now;
  const shared = options.redis ? await openRedis(options.redis, limits, log, options.redisNamespace) : undefined;
  const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
  const storage = shared?.storage ?? (options.dataDir ? new NodeFsStorage(options.dataDir) : new MemoryStorage());
  // With a data directory (and no Redis), pairings in flight survive a restart too.
  const persistent = !options.store && !shared && options.dataDir ? await openPersistentStore(storage, { limits, randomBytes }, log) : undefined;
  const store: MailboxStore = options.store ?? shared?.store ?? persistent?.store ?? new MemoryMailboxStore({ limits, randomBytes });
  const mailboxServer = new MailboxServer({
    store,
    limits,
    now,
    log,
    welcome: options.welcome,
    unlistedAppids: options.unlistedAppids ?? [BACKCHANNEL_APPID],
  });
  const depot = new Depot({ storage, limits: options.depotLimits, now, index: shared?.depotIndex });
  const discovery = new DiscoveryServer({
    checkProof: checkTopicProof,
    limits: options.discoveryLimits,
    log,
    randomBytes: (n) => new Uint8Array(nodeRandomBytes(n)),
    depot,
    hub: shared?.hub,
  });
  const connectionCount = () => mailboxServer.connectionCount + discovery.connectionCount;
  const onFrame = options.onFrame;
  const trusted = new Set((options.trustProxy ?? []).map(normaliseAddress));
  const connectionRate = new RateLimiter({ burst: limits.connectionBurstPerAddress, perMinute: limits.connectionsPerMinutePerAddress, now });
  /** Refusals at upgrade, by reason; the mailbox server counts its own. */
  const upgradeRefusals = new Map<string, number>();
  const metricsAccess = options.metrics ?? 'loopback';

  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, connections: connectionCount() }));
      return;
    }
    if (path === '/metrics' && metricsAccess !== 'off') {
      if (metricsAccess === 'loopback' && !isLoopback(clientAddress(req, trusted))) {
        res.writeHead(403, { 'content-type': 'text/plain' });
        res.end('/metrics is served to loopback only (backchannel relay --metrics public opens it)\n');
        return;
      }
      metricsText().then(
        (text) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(text);
        },
        (err: unknown) => {
          log('error', 'metrics-failed', { error: String(err) });
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('This is a magic-wormhole mailbox relay: connect with a WebSocket to /v1\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, perMessageDeflate: false });
  const perAddress = new Map<string, number>();

  http.on('upgrade', (req: IncomingMessage, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    const address = clientAddress(req, trusted);
    // `Retry-After` (seconds) tells a client how long to back off; ours waits at least that long.
    const refuse = (status: number, text: string, reason: string, retryAfterS?: number) => {
      upgradeRefusals.set(reason, (upgradeRefusals.get(reason) ?? 0) + 1);
      log('warn', 'refused', { status, reason: text });
      const retry = retryAfterS === undefined ? '' : `Retry-After: ${Math.max(1, Math.ceil(retryAfterS))}\r\n`;
      socket.end(`HTTP/1.1 ${status} ${text}\r\n${retry}Connection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const service = path === '/v1' || path === '/v1/' ? mailboxServer : path === DISCOVER_PATH ? discovery : undefined;
    if (!service) return refuse(404, 'Not Found', 'not-found');
    if (connectionCount() >= limits.maxConnections) return refuse(503, 'Too Many Connections', 'connections', 5);
    if ((perAddress.get(address) ?? 0) >= limits.maxConnectionsPerAddress)
      return refuse(429, 'Too Many Connections From This Address', 'connections-per-address', 5);
    if (!connectionRate.take(address))
      return refuse(429, 'Too Many Connections From This Address (rate limited)', 'connection-rate', connectionRate.waitSeconds(address) ?? 1);
    // Corked from here, so the 101 response and the first frame (`welcome`) leave in one write.
    const beforeSend = batchSends(socket);
    beforeSend();
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws, address, service, beforeSend));
  });

  async function metricsText(): Promise<string> {
    const stats = await store.stats();
    const refusals = new Map<string, number>(upgradeRefusals);
    for (const [reason, n] of [...mailboxServer.refusals, ...discovery.refusals]) refusals.set(reason, (refusals.get(reason) ?? 0) + n);
    const memory = process.memoryUsage();
    return renderMetrics({
      connections: { mailbox: mailboxServer.connectionCount, discover: discovery.connectionCount },
      pairing: { ...stats, ...mailboxServer.counts },
      refusals,
      depotDeposits: await depot.count().catch(() => undefined),
      // count() built the index if it had to: the byte total is current.
      depotBytes: depot.totals.bytes,
      memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external },
      transit: transit?.server.stats(),
    });
  }

  function attach(ws: WebSocket, address: string, service: { connect(conn: ServerConnection): ConnectionHandle }, beforeSend: () => void): void {
    perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    let idle: NodeJS.Timeout | undefined;
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ws.close(1000, 'idle timeout'), limits.idleTimeoutMs);
      idle.unref?.();
    };
    resetIdle();
    // A device that vanished without closing (offline, frozen, its machine gone) leaves a half-open
    // socket that would hold its topics — and its contacts' `connected` — until the idle timeout:
    // anything from it since the last ping (its pong, or a frame) keeps it, else it is dropped.
    let heard = true;
    const heartbeat =
      limits.heartbeatMs > 0
        ? setInterval(() => {
            if (!heard) return ws.terminate();
            heard = false;
            if (ws.readyState === ws.OPEN) ws.ping();
          }, limits.heartbeatMs)
        : undefined;
    heartbeat?.unref?.();
    ws.on('pong', () => (heard = true));
    const handle = service.connect({
      address,
      send: (text) => {
        onFrame?.('out', text);
        if (ws.readyState !== ws.OPEN) return;
        // A peer that does not read its socket must not make us buffer without bound.
        if (ws.bufferedAmount > limits.maxBufferedBytes) {
          upgradeRefusals.set('slow-consumer', (upgradeRefusals.get('slow-consumer') ?? 0) + 1);
          log('warn', 'slow-consumer', { buffered: ws.bufferedAmount });
          ws.terminate();
          return;
        }
        beforeSend();
        ws.send(text);
      },
      close: (code, reason) => ws.close(code, reason),
    });
    ws.on('message', (data, isBinary) => {
      heard = true;
      resetIdle();
      const frame = isBinary ? new Uint8Array(data as Buffer) : (data as Buffer).toString('utf8');
      if (typeof frame === 'string') onFrame?.('in', frame);
      handle.receive(frame);
    });
    ws.on('error', (err) => log('debug', 'socket-error', { error: err.message }));
    ws.on('close', () => {
      clearTimeout(idle);
      clearInterval(heartbeat);
      handle.closed();
      const n = (perAddress.get(address) ?? 1) - 1;
      if (n <= 0) perAddress.delete(address);
      else perAddress.set(address, n);
    });
  }

  const pruneTimer = setInterval(() => {
    mailboxServer.prune().catch((err: unknown) => log('error', 'prune-failed', { error: String(err) }));
    depot.prune().catch((err: unknown) => log('error', 'depot-prune-failed', { error: String(err) }));
  }, limits.pruneIntervalMs);
  pruneTimer.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    // Not listening (e.g. EADDRINUSE, which the CLI words for people): release what was opened.
    clearInterval(pruneTimer);
    await persistent?.flush();
    await store.close?.();
    await shared?.close();
    throw err;
  });
  const transit =
    options.transitPort === undefined
      ? undefined
      : await startTransitRelay({ port: options.transitPort, host: options.host, limits: options.transitLimits, log }).catch(async (err: unknown) => {
          http.close();
          clearInterval(pruneTimer);
          await persistent?.flush();
          await store.close?.();
          await shared?.close();
          throw err;
        });
  const address = http.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log('info', 'listening', { host: address.address, port: address.port });
  log('info', 'limits', {
    ...limits,
    depotLimits: { ...DEFAULT_DEPOT_LIMITS, ...options.depotLimits },
    discoveryLimits: { ...DEFAULT_DISCOVERY_LIMITS, ...options.discoveryLimits },
    trustProxy: [...trusted],
    metrics: metricsAccess,
    pairingState: shared ? 'redis' : persistent ? 'data directory' : 'memory',
  });

  let closing: Promise<void> | undefined;
  return {
    url: `ws://${host}:${address.port}/v1`,
    discoveryUrl: `ws://${host}:${address.port}${DISCOVER_PATH}`,
    depot,
    discovery,
    transit,
    port: address.port,
    host: address.address,
    server: mailboxServer,
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        const done = new Promise<void>((resolve) => http.close(() => resolve()));
        mailboxServer.shutdown();
        await transit?.close();
        await discovery.shutdown();
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        http.closeAllConnections?.();
        await done;
        await persistent?.flush();
        await store.close?.();
        await shared?.close();
        log('info', 'stopped');
      })();
      return closing;
    },
  };
}

/**
 * The Redis-backed parts: pairing state, the depot's storage and DISCOVER's hub. Four connections:
 * commands, the store's optimistic transactions (WATCH belongs to a connection), and two subscribers.
 */
async function openRedis(url: string, limits: RelayLimits, log: Logger, namespace = 'backchannel') {
  // Loaded only when asked for, so a relay without Redis never needs the client (an optional peer).
  const { Redis } = await import('ioredis').catch((err: unknown) => {
    throw new InvalidArgumentError(`The redis option needs the ioredis package, an optional peer dependency: npm i ioredis (${String(err)})`, {
      dependency: 'ioredis',
    });
  });
  const connections = [0, 1, 2, 3].map(() => new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 }));
  const [redis, transactions, subscriber, storeSubscriber] = connections as [
    InstanceType<typeof Redis>,
    InstanceType<typeof Redis>,
    InstanceType<typeof Redis>,
    InstanceType<typeof Redis>,
  ];
  // ioredis reconnects by itself; its errors go to our log instead of the console.
  let firstError: Error | undefined;
  for (const c of connections) {
    c.on('error', (err: Error) => {
      firstError ??= err;
      log('warn', 'redis-error', { error: err.message });
    });
  }
  try {
    await Promise.all(connections.map((c) => c.connect()));
  } catch (err) {
    for (const c of connections) c.disconnect();
    const reason = (firstError ?? (err as Error)).message;
    const where = withoutPassword(url);
    throw new ConnectionLostError(`Cannot reach Redis at ${where}: ${reason}.`, { url: where });
  }
  const relayId = nodeRandomBytes(8).toString('hex');
  const hub = await RedisDiscoveryHub.open({ redis, subscriber, namespace, relayId });
  const randomBytes = (n: number) => new Uint8Array(nodeRandomBytes(n));
  return {
    storage: new RedisStorage(redis, namespace),
    depotIndex: new RedisDepotIndex(redis, namespace),
    store: new RedisMailboxStore({ redis: transactions, subscriber: storeSubscriber, limits, randomBytes, relayId, namespace }),
    hub,
    async close() {
      await hub.close();
      for (const c of connections) c.disconnect();
    },
  };
}
