/**
 * Asking for a code on the terminal, with Tab completing the words as `wormhole receive` does
 * (its completer is magic-wormhole's `get_completions`; ours is `completeCode`).
 * @module
 */
import { createInterface } from 'node:readline';
import { completeCode } from '../src/code/code.js';

/** What may end a word of a code as typed: the separators `normalizeCode` accepts. */
const WORD_BEFORE_CURSOR = /[^\s\-_.]*$/;

/**
 * node:readline's `completer` for a code: completes the word being typed, in its column of the word
 * list. `'7-guitar'` → `[['guitarist-'], 'guitar']`; readline puts in what is missing, or lists the
 * choices on a second Tab. Digits and links get no completions.
 */
export function codeCompleter(line: string): [string[], string] {
  const typed = WORD_BEFORE_CURSOR.exec(line)![0];
  const hits = completeCode(line).map((full) => full.slice(full.lastIndexOf('-', full.length - 2) + 1));
  return [hits, typed];
}

export interface PromptIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Whether `input` is a terminal: then keys are read one by one and Tab completes; else a line is read. */
  terminal: boolean;
}

/** Ask for a code; the line typed, or `undefined` when none came (Ctrl-D, Ctrl-C, an empty pipe). */
export function askForCode(io: PromptIo, prompt = 'Enter the code from the other person (Tab completes words): '): Promise<string | undefined> {
  const rl = createInterface({ input: io.input, output: io.output, terminal: io.terminal, completer: codeCompleter });
  return new Promise((resolve) => {
    let answered = false;
    rl.once('close', () => answered || resolve(undefined));
    // On a terminal readline takes Ctrl-C as a key; without this it would only pause, and the prompt hang.
    rl.once('SIGINT', () => rl.close());
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
  });
}
