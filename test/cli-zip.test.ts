/**
 * The CLI's zips (cli/zip.ts) against Python's zipfile, which is what the real `wormhole` uses: ours
 * read back by Python with names, modes and bytes intact; Python's read by us, including the forms a
 * sender streaming to a pipe writes (data descriptors) and zip64; and a damaged entry refused by its CRC.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unzipInto, writeZip } from '../cli/zip.js';
import { TransferFailedError } from '../src/errors.js';
import { SYSTEM_PYTHON } from './helpers/processes.js';
import { tempDirs } from './helpers/wait.js';

const dirs = tempDirs('bc-cli-zip-');
afterAll(() => dirs.removeAll());
const fresh = () => dirs.make();
const python = (script: string, ...args: string[]) => execFileSync(SYSTEM_PYTHON, ['-c', script, ...args], { encoding: 'utf8' });

describe('zips the real wormhole reads and writes', () => {
  it('ours, read by Python: deflated, UTF-8 names flagged, Unix modes, the same bytes', async () => {
    const src = fresh();
    writeFileSync(join(src, 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(src, 'run.sh'), 0o755);
    writeFileSync(join(src, 'grüße.txt'), 'x'.repeat(100_000));
    writeFileSync(join(src, 'empty'), '');
    const zip = join(fresh(), 'out.zip');
    await writeZip(
      ['run.sh', 'grüße.txt', 'empty'].map((name) => ({ path: join(src, name), name: `sub/${name}` })),
      zip,
    );
    const seen = JSON.parse(
      python(
        `import sys, json, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.compress_type, i.flag_bits & 0x800, oct(i.external_attr >> 16), len(z.read(i))] for i in z.infolist()]))`,
        zip,
      ),
    ) as unknown[];
    expect(seen).toEqual([
      ['sub/run.sh', 8, 0, '0o100755', 10],
      ['sub/grüße.txt', 8, 0x800, `0o${(statSync(join(src, 'grüße.txt')).mode & 0xffff).toString(8)}`, 100_000],
      ['sub/empty', 8, 0, `0o${(statSync(join(src, 'empty')).mode & 0xffff).toString(8)}`, 0],
    ]);
    const target = fresh();
    await unzipInto(zip, target, { maxBytes: 100_010, maxFiles: 3 });
    expect(readFileSync(join(target, 'sub/grüße.txt'), 'utf8')).toBe('x'.repeat(100_000));
    expect(statSync(join(target, 'sub/run.sh')).mode & 0o777).toBe(0o755);
  });

  it.each([
    ['streamed to a pipe (data descriptors)', 'stream'],
    ['zip64', 'zip64'],
  ])('Python’s, %s, read by us', async (_name, form) => {
    const zip = join(fresh(), 'in.zip');
    python(
      `import sys, io, zipfile
class Pipe(io.RawIOBase):
    def __init__(s, f): s.f = f
    def writable(s): return True
    def write(s, b): return s.f.write(b)
    def seekable(s): return False
with open(sys.argv[1], 'wb') as raw:
    with zipfile.ZipFile(Pipe(raw) if sys.argv[2] == 'stream' else raw, 'w', zipfile.ZIP_DEFLATED) as z:
        with z.open('big.txt', 'w', force_zip64=sys.argv[2] == 'zip64') as f: f.write(b'y' * 100000)
        z.writestr('dir/é.txt', b'e')
        z.writestr('stored.txt', b'stored', compress_type=zipfile.ZIP_STORED)`,
      zip,
      form,
    );
    const target = fresh();
    await unzipInto(zip, target, { maxBytes: 100_007, maxFiles: 3 });
    expect([
      readFileSync(join(target, 'big.txt'), 'utf8').length,
      readFileSync(join(target, 'dir/é.txt'), 'utf8'),
      readFileSync(join(target, 'stored.txt'), 'utf8'),
    ]).toEqual([100_000, 'e', 'stored']);
  });

  it('an entry whose bytes were changed fails its CRC', async () => {
    const zip = join(fresh(), 'bad.zip');
    python(
      `import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z: z.writestr('a.txt', b'hello world')`,
      zip,
    );
    const bytes = readFileSync(zip);
    bytes[bytes.indexOf('hello world') + 1] = 'E'.charCodeAt(0);
    writeFileSync(zip, bytes);
    await expect(unzipInto(zip, fresh(), { maxBytes: 100, maxFiles: 1 })).rejects.toThrow(TransferFailedError);
    await expect(unzipInto(zip, fresh(), { maxBytes: 100, maxFiles: 1 })).rejects.toThrow(/CRC/);
  });
});
