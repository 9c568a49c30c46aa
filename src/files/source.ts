/**
 * What a host may hand `send` as a file's bytes, read piece by piece (never whole): a browser
 * `Blob`/`File`, a WHATWG `ReadableStream`, any async iterable of bytes (a Node `Readable`, e.g.
 * `fs.createReadStream`; the Node adapter's `fileFromPath` opens one), or bytes already in memory.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** What `send` reads a file from: a Blob or File, a web ReadableStream, any async iterable of bytes (a Node stream), or bytes. */
export type FileSource = Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array;

const isReadableStream = (v: unknown): v is ReadableStream<Uint8Array> => typeof (v as ReadableStream)?.getReader === 'function';
const isBlob = (v: unknown): v is Blob => typeof Blob !== 'undefined' && v instanceof Blob;
const isAsyncIterable = (v: unknown): v is AsyncIterable<Uint8Array> =>
  typeof v === 'object' && v !== null && typeof (v as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function';

export function isFileSource(v: unknown): v is FileSource {
  return v instanceof Uint8Array || isBlob(v) || isReadableStream(v) || isAsyncIterable(v);
}

/** The source's bytes as they come (pieces of any size); a reader is released or cancelled at the end. */
export async function* piecesOf(source: FileSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  const from = isBlob(source) ? (source.stream() as ReadableStream<Uint8Array>) : source;
  if (isReadableStream(from)) {
    const reader = from.getReader();
    let finished = false;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          finished = true;
          return;
        }
        yield bytesOf(value);
      }
    } finally {
      if (!finished) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }
  if (!isAsyncIterable(from)) throw new InvalidArgumentError('a file must be a Blob, a ReadableStream, an async iterable of bytes or a Uint8Array');
  for await (const piece of from) yield bytesOf(piece);
}

function bytesOf(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (piece instanceof ArrayBuffer) return new Uint8Array(piece);
  throw new InvalidArgumentError(`a file source yielded ${typeof piece}, not bytes (open Node streams without an encoding)`);
}
