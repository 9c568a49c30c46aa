/**
 * The "State machines" page of the docs site: one diagram per machine, generated from the machines
 * themselves at build time.
 */
import type { AnyStateMachine } from 'xstate';
import { depotMachine } from '../../src/depot/depotMachine.js';
import { appMachine, contactLinkMachine, discoverMachine, pairingMachine, syncMachine, wormholeMachine } from '../../src/machines/index.js';
import { machineEdges, machineLevels, stateIds } from './machineDiagram.js';

/** Every machine of the SDK, with where it lives and what it does. */
export const MACHINES: readonly { name: string; source: string; about: string; machine: AnyStateMachine }[] = [
  {
    name: 'appMachine',
    source: 'src/machines/appMachine.ts',
    about: 'The app, the only writer: what `createBackchannel` runs (as `backchannelApp`, with its effects provided).',
    machine: appMachine,
  },
  {
    name: 'pairingMachine',
    source: 'src/machines/pairingMachine.ts',
    about: 'VERIFY for Backchannel: the wormhole as a child, then `paired` both ways.',
    machine: pairingMachine,
  },
  {
    name: 'wormholeMachine',
    source: 'src/machines/wormholeMachine.ts',
    about: "The magic-wormhole mailbox protocol's client: connection, nameplate, mailbox, key and lifecycle regions.",
    machine: wormholeMachine,
  },
  {
    name: 'contactLinkMachine',
    source: 'src/machines/contactLinkMachine.ts',
    about: 'One contact in the background: DISCOVER, SYNC per channel, and the depot while it is away.',
    machine: contactLinkMachine,
  },
  {
    name: 'discoverMachine',
    source: 'src/machines/discoverMachine.ts',
    about: "DISCOVER: find the contact's device through the relay, then connect directly (WebRTC) or relayed.",
    machine: discoverMachine,
  },
  { name: 'syncMachine', source: 'src/machines/syncMachine.ts', about: 'SYNC with one peer over a Transport.', machine: syncMachine },
  {
    name: 'depotMachine',
    source: 'src/depot/depotMachine.ts',
    about: 'The depot client: deposits sealed changes for an offline contact on the relay and fetches what was kept for us.',
    machine: depotMachine as unknown as AnyStateMachine,
  },
];

/** The page's Markdown: a section per machine with its Mermaid diagram. */
export function machinesPage(): string {
  const sections = MACHINES.map(({ name, source, about, machine }) =>
    [
      `## ${name}`,
      '',
      `${about} Defined in \`${source}\`: ${stateIds(machine).length} states, ${machineEdges(machine).length} transitions.`,
      '',
      ...machineLevels(machine).flatMap((level) => ['', `### ${level.path.replace(/\./g, ' › ')}`, '', '```mermaid', level.mermaid, '```']),
    ].join('\n'),
  );
  return [
    '# State machines',
    '',
    'Every machine of the SDK, drawn from its own definition when the site is built (`scripts/docs/machineDiagram.ts` walks',
    "each machine's state nodes), so the diagrams cannot drift from the code: one diagram per state with children, a",
    'level at a time (`…` marks a state with a diagram of its own). Transitions are labelled with their event',
    '(`after N` for a delay, `done`/`error` for an invoked actor, `always` for an eventless one) and their guard in brackets;',
    'transitions that run actions without changing state are left out. `docs/inspector.md` shows how to watch them live.',
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
}
