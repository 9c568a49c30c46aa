/**
 * The relay's settings from outside code: a JSON config file (`--config FILE`) and flags, over the
 * defaults. Precedence: defaults < file < flags. Every mistake is a {@link RangeError} naming where it
 * was (file or flag) and what was wrong.
 *
 * The file: `{ "limits": { "maxStoreBytes": 67108864, … }, "trustProxy": ["127.0.0.1"],
 * "metrics": "loopback", "unlistedAppids": ["backchannel.dev/pair/v1"] }`, every key optional.
 * @module
 */
import { checkLimits, DEFAULT_LIMITS, type RelayLimits } from './limits.js';

export type MetricsAccess = 'loopback' | 'public' | 'off';
const METRICS: readonly MetricsAccess[] = ['loopback', 'public', 'off'];

export interface RelayConfig {
  limits: RelayLimits;
  trustProxy: string[];
  metrics: MetricsAccess;
  /** Undefined: the relay's default (Backchannel's appid). */
  unlistedAppids?: string[];
}

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

const FILE_KEYS = ['limits', 'trustProxy', 'metrics', 'unlistedAppids'];

function stringList(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new RangeError(`${where} must be a list of strings`);
  return value as string[];
}

function metricsAccess(value: unknown, where: string): MetricsAccess {
  if (!METRICS.includes(value as MetricsAccess)) throw new RangeError(`${where} must be one of ${METRICS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as MetricsAccess;
}

/** `a=1,b=2` → `{a: 1, b: 2}`, checked against the known limits. */
export function parseLimitList(text: string, where = '--limit'): Partial<RelayLimits> {
  const entries: Record<string, unknown> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(part);
    if (!m) throw new RangeError(`${where}: expected name=number, got '${part}'`);
    entries[m[1]!] = Number(m[2]);
  }
  return checkLimits(entries, where);
}

export function resolveRelayConfig(input: RelayConfigInput): RelayConfig {
  const config: RelayConfig = { limits: { ...DEFAULT_LIMITS }, trustProxy: [], metrics: 'loopback' };
  if (input.file) {
    const { name, json } = input.file;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new RangeError(`${name}: expected a JSON object`);
    const file = json as Record<string, unknown>;
    for (const key of Object.keys(file)) if (!FILE_KEYS.includes(key)) throw new RangeError(`${name}: unknown key '${key}' (known: ${FILE_KEYS.join(', ')})`);
    if (file.limits !== undefined) {
      if (typeof file.limits !== 'object' || file.limits === null) throw new RangeError(`${name}: 'limits' must be an object`);
      Object.assign(config.limits, checkLimits(file.limits as Record<string, unknown>, name));
    }
    if (file.trustProxy !== undefined) config.trustProxy = stringList(file.trustProxy, `${name}: 'trustProxy'`);
    if (file.metrics !== undefined) config.metrics = metricsAccess(file.metrics, `${name}: 'metrics'`);
    if (file.unlistedAppids !== undefined) config.unlistedAppids = stringList(file.unlistedAppids, `${name}: 'unlistedAppids'`);
  }
  if (input.limit !== undefined) Object.assign(config.limits, parseLimitList(input.limit));
  if (input.trustProxy !== undefined) config.trustProxy = input.trustProxy.split(',').map((a) => a.trim()).filter(Boolean);
  if (input.metrics !== undefined) config.metrics = metricsAccess(input.metrics, '--metrics');
  return config;
}
