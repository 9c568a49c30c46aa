/**
 * The relay's settings from outside code: a JSON config file (`--config FILE`) and flags, over the
 * defaults. Precedence: defaults < file < flags. Every mistake is a {@link RangeError} naming where it
 * was (file or flag) and what was wrong.
 *
 * The file: `{ "limits": { "maxStoreBytes": 67108864, … }, "depotLimits": { "ttlMs": … },
 * "discoveryLimits": { "maxPeersPerTopic": … }, "trustProxy": ["127.0.0.1"], "metrics": "loopback",
 * "unlistedAppids": ["backchannel.dev/pair/v1"] }`, every key optional. On the command line the
 * depot's, DISCOVER's and the transit relay's limits are `--limit depot.ttlMs=…,discover.maxPeersPerTopic=…,transit.idleTimeoutMs=…`
 * (`"transitLimits"` in the file).
 * @module
 */
import { DEFAULT_DEPOT_LIMITS, type DepotLimits } from './depot.js';
import { DEFAULT_DISCOVERY_LIMITS, type DiscoveryLimits } from './discoveryServer.js';
import { checkLimits, DEFAULT_LIMITS, type RelayLimits } from './limits.js';
import { DEFAULT_TRANSIT_LIMITS, type TransitLimits } from './transitRelay.js';

/** Who may read `/metrics`: loopback clients only, anyone, or nobody. */
export type MetricsAccess = 'loopback' | 'public' | 'off';
const METRICS: readonly MetricsAccess[] = ['loopback', 'public', 'off'];

/** The relay's settings once the defaults, the config file and the flags are merged and checked. */
export interface RelayConfig {
  limits: RelayLimits;
  depotLimits: DepotLimits;
  discoveryLimits: DiscoveryLimits;
  /** The transit relay's (`backchannel relay --transit-port`). */
  transitLimits: TransitLimits;
  trustProxy: string[];
  metrics: MetricsAccess;
  /** Undefined: the relay's default (Backchannel's appid). */
  unlistedAppids?: string[];
}

/** The relay's settings as given: a config file's JSON and the command line's flags. */
export interface RelayConfigInput {
  /** The parsed JSON of the config file, and its name for messages. */
  file?: { name: string; json: unknown };
  /** `--limit name=N,name=N` */
  limit?: string;
  /** `--trust-proxy 127.0.0.1,::1` */
  trustProxy?: string;
  /** `--metrics loopback|public|off` */
  metrics?: string;
}

const FILE_KEYS = ['limits', 'depotLimits', 'discoveryLimits', 'transitLimits', 'trustProxy', 'metrics', 'unlistedAppids'];

/** Limits other than the relay's own: known names, whole numbers ≥ 0. */
function checkGroup<T extends object>(input: unknown, defaults: Readonly<T>, where: string): Partial<T> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RangeError(`${where} must be an object`);
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(input)) {
    if (!Object.hasOwn(defaults, name)) throw new RangeError(`${where}: unknown limit '${name}' (known: ${Object.keys(defaults).join(', ')})`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${where}: limit '${name}' must be a whole number ≥ 0, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  return out as Partial<T>;
}

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new RangeError(`${where} must be a list of strings`);
  return value as string[];
}

function metricsAccess(value: unknown, where: string): MetricsAccess {
  if (!METRICS.includes(value as MetricsAccess)) throw new RangeError(`${where} must be one of ${METRICS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as MetricsAccess;
}

/** `a=1,depot.b=2,discover.c=3,transit.d=4` → the relay's, the depot's, DISCOVER's and the transit relay's limits, checked. */
export function parseLimitList(
  text: string,
  where = '--limit',
): { relay: Partial<RelayLimits>; depot: Partial<DepotLimits>; discover: Partial<DiscoveryLimits>; transit: Partial<TransitLimits> } {
  const entries: Record<'relay' | 'depot' | 'discover' | 'transit', Record<string, unknown>> = { relay: {}, depot: {}, discover: {}, transit: {} };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(?:(depot|discover|transit)\.)?([A-Za-z]+)=(\d+)$/.exec(part);
    if (!m) throw new RangeError(`${where}: expected name=number, got '${part}'`);
    entries[(m[1] as 'depot' | 'discover' | 'transit' | undefined) ?? 'relay'][m[2]!] = Number(m[3]);
  }
  return {
    relay: checkLimits(entries.relay, where),
    depot: checkGroup(entries.depot, DEFAULT_DEPOT_LIMITS, `${where} depot.`),
    discover: checkGroup(entries.discover, DEFAULT_DISCOVERY_LIMITS, `${where} discover.`),
    transit: checkGroup(entries.transit, DEFAULT_TRANSIT_LIMITS, `${where} transit.`),
  };
}

/** Merge defaults < file < flags into checked settings; a RangeError names the bad key or flag. */
export function resolveRelayConfig(input: RelayConfigInput): RelayConfig {
  const config: RelayConfig = {
    limits: { ...DEFAULT_LIMITS },
    depotLimits: { ...DEFAULT_DEPOT_LIMITS },
    discoveryLimits: { ...DEFAULT_DISCOVERY_LIMITS },
    transitLimits: { ...DEFAULT_TRANSIT_LIMITS },
    trustProxy: [],
    metrics: 'loopback',
  };
  if (input.file) {
    const { name, json } = input.file;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new RangeError(`${name}: expected a JSON object`);
    const file = json as Record<string, unknown>;
    for (const key of Object.keys(file)) if (!FILE_KEYS.includes(key)) throw new RangeError(`${name}: unknown key '${key}' (known: ${FILE_KEYS.join(', ')})`);
    if (file.limits !== undefined) {
      if (typeof file.limits !== 'object' || file.limits === null) throw new RangeError(`${name}: 'limits' must be an object`);
      Object.assign(config.limits, checkLimits(file.limits as Record<string, unknown>, name));
    }
    if (file.depotLimits !== undefined) Object.assign(config.depotLimits, checkGroup(file.depotLimits, DEFAULT_DEPOT_LIMITS, `${name}: 'depotLimits'`));
    if (file.discoveryLimits !== undefined) {
      Object.assign(config.discoveryLimits, checkGroup(file.discoveryLimits, DEFAULT_DISCOVERY_LIMITS, `${name}: 'discoveryLimits'`));
    }
    if (file.transitLimits !== undefined) {
      Object.assign(config.transitLimits, checkGroup(file.transitLimits, DEFAULT_TRANSIT_LIMITS, `${name}: 'transitLimits'`));
    }
    if (file.trustProxy !== undefined) config.trustProxy = stringList(file.trustProxy, `${name}: 'trustProxy'`);
    if (file.metrics !== undefined) config.metrics = metricsAccess(file.metrics, `${name}: 'metrics'`);
    if (file.unlistedAppids !== undefined) config.unlistedAppids = stringList(file.unlistedAppids, `${name}: 'unlistedAppids'`);
  }
  if (input.limit !== undefined) {
    const given = parseLimitList(input.limit);
    Object.assign(config.limits, given.relay);
    Object.assign(config.depotLimits, given.depot);
    Object.assign(config.discoveryLimits, given.discover);
    Object.assign(config.transitLimits, given.transit);
  }
  if (input.trustProxy !== undefined)
    config.trustProxy = input.trustProxy
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
  if (input.metrics !== undefined) config.metrics = metricsAccess(input.metrics, '--metrics');
  return config;
}
