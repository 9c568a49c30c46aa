/**
 * The relay's `/metrics`, in the Prometheus text exposition format (version 0.0.4): gauges of what is
 * open and held now, counters of what happened since start. Rendering is a pure function of a sample,
 * so it is tested without a server.
 * @module
 */

/** What /metrics reports, read from the running relay at one moment. */
export interface MetricsSample {
  connections: { mailbox: number; discover: number };
  pairing: { appids: number; nameplates: number; mailboxes: number; bytes: number; allocated: number; claimed: number; messages: number };
  /** Refusals since start, by reason (connection refusals at upgrade and protocol refusals). */
  refusals: ReadonlyMap<string, number>;
  /** Deposits waiting in the depot; undefined when it could not be read. */
  depotDeposits?: number;
  /** Bytes the depot holds (sealed deposits), from its index. */
  depotBytes?: number;
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  /** The transit relay's, when it runs (`--transit-port`). */
  transit?: { connections: number; waiting: number; paired: number; refusals: ReadonlyMap<string, number> };
}

type Line = [name: string, type: 'gauge' | 'counter', help: string, values: [labels: string, value: number][]];

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The sample as Prometheus text exposition (version 0.0.4). */
export function renderMetrics(s: MetricsSample): string {
  const lines: Line[] = [
    [
      'backchannel_connections_open',
      'gauge',
      'WebSocket connections open, by endpoint',
      [
        ['{service="mailbox"}', s.connections.mailbox],
        ['{service="discover"}', s.connections.discover],
      ],
    ],
    ['backchannel_pairing_appids', 'gauge', 'appids with nameplates or mailboxes in the pairing store', [['', s.pairing.appids]]],
    ['backchannel_pairing_nameplates', 'gauge', 'nameplates held (allocated or claimed)', [['', s.pairing.nameplates]]],
    ['backchannel_pairing_mailboxes', 'gauge', 'mailboxes open in the pairing store', [['', s.pairing.mailboxes]]],
    ['backchannel_pairing_store_bytes', 'gauge', 'bytes held by the pairing store, as counted against maxStoreBytes', [['', s.pairing.bytes]]],
    ['backchannel_pairing_allocations_total', 'counter', 'nameplates allocated since start', [['', s.pairing.allocated]]],
    ['backchannel_pairing_claims_total', 'counter', 'nameplate claims granted since start', [['', s.pairing.claimed]]],
    ['backchannel_pairing_messages_total', 'counter', 'mailbox messages stored since start', [['', s.pairing.messages]]],
    [
      'backchannel_refusals_total',
      'counter',
      'requests refused since start, by reason',
      [...s.refusals].sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => [`{reason="${escape(reason)}"}`, n] as [string, number]),
    ],
    ['process_resident_memory_bytes', 'gauge', 'resident set size of the relay process', [['', s.memory.rss]]],
    ['nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use', [['', s.memory.heapUsed]]],
    ['nodejs_heap_size_total_bytes', 'gauge', 'V8 heap reserved', [['', s.memory.heapTotal]]],
    ['nodejs_external_memory_bytes', 'gauge', 'memory outside the V8 heap (buffers)', [['', s.memory.external]]],
  ];
  if (s.depotDeposits !== undefined) lines.push(['backchannel_depot_deposits', 'gauge', 'deposits waiting in the depot', [['', s.depotDeposits]]]);
  if (s.depotBytes !== undefined) lines.push(['backchannel_depot_bytes', 'gauge', 'bytes of sealed deposits the depot holds', [['', s.depotBytes]]]);
  if (s.transit) {
    const t = s.transit;
    lines.push(
      ['backchannel_transit_connections_open', 'gauge', 'transit relay connections open', [['', t.connections]]],
      ['backchannel_transit_waiting', 'gauge', 'transit connections waiting for their partner', [['', t.waiting]]],
      ['backchannel_transit_pairs_total', 'counter', 'transit connection pairs joined since start', [['', t.paired]]],
      [
        'backchannel_transit_refusals_total',
        'counter',
        'transit connections closed by a limit or a bad handshake since start, by reason',
        [...t.refusals].sort(([a], [b]) => a.localeCompare(b)).map(([reason, n]) => [`{reason="${escape(reason)}"}`, n] as [string, number]),
      ],
    );
  }
  let out = '';
  for (const [name, type, help, values] of lines) {
    out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    for (const [labels, value] of values) out += `${name}${labels} ${value}\n`;
  }
  return out;
}
