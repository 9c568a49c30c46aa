/**
 * Sharing a code with the CLI: `accept` takes digits or a redeem link, asks for the code when none is
 * given (Tab completing its words), and `invite --qr` shows a QR that scans back to the code.
 * Real processes against a local relay; the terminal ones run under `script` (util-linux), which gives
 * the CLI a pseudo-terminal, so readline's raw mode, its Tab handling and our colours are the real ones.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay, type Relay } from '../server/index.js';
import { askForCode, codeCompleter } from '../cli/codePrompt.js';
import { completeWord } from '../src/code/code.js';
import { codeToDigits } from '../src/code/digits.js';
import { redeemLink } from '../src/code/link.js';
import { backchannelCli, ROOT, run, type Running } from './helpers/processes.js';
import { decodeMatrix, matrixFromHalfBlocks } from './helpers/qrImage.js';

const SCRIPT = '/usr/bin/script';
let relay: Relay;
beforeAll(async () => {
  relay = await startRelay();
});
afterAll(async () => {
  await relay.close();
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `backchannel …` on a pseudo-terminal: stdout and stderr both arrive as the terminal's output. */
function onTerminal(args: string[]): Running {
  if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: install util-linux (Debian: bsdutils)`);
  const command = [process.execPath, join(ROOT, 'bin/backchannel.js'), ...args].join(' ');
  return run(SCRIPT, ['--quiet', '--flush', '--return', '--command', command, '/dev/null']);
}

/** Start `invite`, wait for its code and its digits. */
async function invite(args: string[] = []) {
  const inviter = backchannelCli(['invite', '--relay', relay.url, ...args]);
  const [, code] = await inviter.waitFor(/^code: (\S+)\r?\n/m);
  const [, digits] = await inviter.waitFor(/^or type it as digits: (\S+)\r?\n/m);
  await inviter.waitFor(/waiting for the other side…/);
  return { inviter, code: code!, digits: digits! };
}

async function expectPaired(inviter: Running, accepter: Running): Promise<void> {
  const [i, a] = await Promise.all([inviter.result, accepter.result]);
  expect(i.code, i.stderr).toBe(0);
  expect(a.code, a.stderr + a.stdout).toBe(0);
  const verifier = i.stdout.match(/verifier: (\S+)/)![1]!;
  expect(a.stdout).toContain(`verifier: ${verifier}`);
}

/** The shortest prefix that only `word` has in its column: what a person types before Tab. */
function uniquePrefix(word: string, position: number): string {
  for (let n = 1; n <= word.length; n++) {
    if (completeWord(word.slice(0, n), position).length === 1) return word.slice(0, n);
  }
  return word;
}

describe('accept takes every form of the code', () => {
  it('pairs with the digits `invite` prints, given as the argument', async () => {
    const { inviter, code, digits } = await invite();
    expect(digits).toBe(codeToDigits(code));
    expect(digits).toMatch(/^\d+-\d{3}-\d{3}-\d$/);
    await expectPaired(inviter, backchannelCli(['accept', digits.replaceAll('-', ''), '--relay', relay.url]));
  });

  it('pairs with a redeem link given as the argument', async () => {
    const { inviter, code } = await invite();
    await expectPaired(inviter, backchannelCli(['accept', redeemLink(code, 'https://example.com/pair'), '--relay', relay.url]));
  });

  it('reads the code from a pipe when no argument is given (no terminal: a line, no completion)', async () => {
    const { inviter, digits } = await invite();
    const accepter = backchannelCli(['accept', '--relay', relay.url]);
    await accepter.waitFor(/Enter the code from the other person \(Tab completes words\): $/);
    accepter.child.stdin!.end(`${digits}\n`);
    await expectPaired(inviter, accepter);
  });

  it('`wormhole receive` asks the same way when no code is given', async () => {
    const sender = backchannelCli(['wormhole', 'send', '--text', 'hello from a pipe', '--relay', relay.url]);
    const [, code] = await sender.waitFor(/Wormhole code is: (\S+)\r?\n/);
    const receiver = backchannelCli(['wormhole', 'receive', '--relay', relay.url]);
    await receiver.waitFor(/Enter receive wormhole code: $/);
    receiver.child.stdin!.end(`${code}\n`);
    const [s, r] = await Promise.all([sender.result, receiver.result]);
    expect(s.code, s.stderr).toBe(0);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from a pipe\n');
  });

  it('a mistyped digit fails before anything goes to the relay; no code at all says so', async () => {
    const typo = await backchannelCli(['accept', '7-105-196-9', '--relay', relay.url]).result;
    expect(typo.code).toBe(1);
    expect(typo.stderr).toBe('error: The digits do not add up: one is wrong or two were swapped. Check the code again. [BAD_CODE]\n');
    const none = backchannelCli(['accept', '--relay', relay.url]);
    none.child.stdin!.end();
    const ended = await none.result;
    expect(ended.code).toBe(1);
    expect(ended.stderr).toMatch(/\nerror: no code given: pass it as an argument, or type it when asked\n$/);
  });
});

describe('Tab completes the words of a code', () => {
  it('codeCompleter completes the word being typed, in its column', () => {
    expect(codeCompleter('7-guitar')).toEqual([['guitarist-'], 'guitar']);
    expect(codeCompleter('7-guitarist-rev')).toEqual([['revenge'], 'rev']);
    expect(codeCompleter('7 guitarist rev')).toEqual([['revenge'], 'rev']);
    expect(codeCompleter('7-ba')).toEqual([['babylon-', 'backwater-', 'barbecue-'], 'ba']);
    expect(codeCompleter('7-GUITAR')).toEqual([['guitarist-'], 'GUITAR']); // readline replaces the typed word
    expect(codeCompleter('7-guitarist-revenge-')[0]).toEqual([]); // past the last word
    expect(codeCompleter('7-105')[0]).toEqual([]); // digits: nothing to complete
    expect(codeCompleter('7')[0]).toEqual([]);
  });

  it("through node:readline's own key handling (in process, a stream marked as a terminal)", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => (shown += d.toString()));
    const shownNow = (pattern: RegExp) =>
      new Promise<void>((resolve) => {
        const check = () => pattern.test(shown) && (output.off('data', check), resolve());
        output.on('data', check);
        check();
      });
    const answer = askForCode({ input, output, terminal: true });
    // One write is one burst of keys: readline completes only on a Tab that ends a burst (a Tab inside
    // pasted text stays a character), as keys typed one by one arrive.
    input.write('7-ba\t'); // ambiguous: nothing to add yet
    input.write('\t'); // the second Tab lists the choices
    await shownNow(/babylon-\s+backwater-\s+barbecue-/);
    input.write('by\t'); // only babylon
    await shownNow(/bylon-$/);
    input.write('REVE\t'); // the typed word is replaced by the word from the list
    await shownNow(/7-babylon-revenge/);
    input.write('\r');
    expect(await answer).toBe('7-babylon-revenge');
  });

  it('in the real CLI on a pseudo-terminal: type a few letters, Tab, pair; invite --qr paints the QR black on white', async () => {
    // The inviter on a terminal too: its QR comes with colours there.
    const inviter = onTerminal(['invite', '--qr', '--relay', relay.url]);
    const [, code] = await inviter.waitFor(/code: (\S+)\r?\n/);
    await inviter.waitFor(/waiting for the other side…/);
    const [nameplate, first, second] = code!.split('-') as [string, string, string];

    const accepter = onTerminal(['accept', '--relay', relay.url]);
    await accepter.waitFor(/Tab completes words\): /);
    accepter.child.stdin!.write(`${nameplate}-${uniquePrefix(first, 0)}\t`);
    await accepter.waitFor(new RegExp(`${escape(`${nameplate}-${first}-`)}`));
    accepter.child.stdin!.write(`${uniquePrefix(second, 1)}\t`);
    await accepter.waitFor(new RegExp(escape(code!)));
    accepter.child.stdin!.write('\r');
    await expectPaired(inviter, accepter);

    const out = (await inviter.result).stdout;
    const qrLines = out.split(/\r?\n/).filter((line) => line.startsWith('\x1b[30;47m'));
    expect(qrLines.length).toBeGreaterThan(10);
    expect(decodeMatrix(matrixFromHalfBlocks(qrLines.join('\n')))).toBe(code);
  });
});

describe('invite --qr', () => {
  it('prints a QR of the code on stderr, beside the words and digits, that scans back to the code', async () => {
    const { inviter, code, digits } = await invite(['--qr']);
    const accepter = backchannelCli(['accept', code, '--relay', relay.url]);
    await expectPaired(inviter, accepter);
    const { stderr, stdout } = await inviter.result;
    expect(stdout).toMatch(new RegExp(`^code: ${escape(code)}\\nverifier: \\S+\\n$`)); // stdout stays machine-readable
    const lines = stderr.split('\n');
    const at = lines.indexOf(`or type it as digits: ${digits}`);
    expect(at).toBeGreaterThan(0);
    expect(lines[at - 1]).toBe(`Give this code to the other person; they run: backchannel accept ${code}`);
    // Not a terminal: plain half blocks, no colour codes, then the warning.
    const block: string[] = [];
    for (const line of lines.slice(at + 1)) {
      if (!/^[ ▀▄█]+$/.test(line)) break;
      block.push(line);
    }
    expect(block.length).toBeGreaterThan(10);
    expect(lines[at + 1 + block.length]).toBe('The QR holds the whole code: show it only to the person you pair with.');
    expect(decodeMatrix(matrixFromHalfBlocks(block.join('\n')))).toBe(code);
  });

  it('without --qr there is no QR', async () => {
    const { inviter, code } = await invite();
    await expectPaired(inviter, backchannelCli(['accept', code, '--relay', relay.url]));
    expect((await inviter.result).stderr).not.toMatch(/[▀▄█]/);
  });
});
