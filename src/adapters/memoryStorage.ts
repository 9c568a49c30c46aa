/**
 * Storage in memory: tests, and hosts that persist nothing. Copies on the way in and out, so callers
 * can never mutate what is stored.
 *
 * Entries sit in a tree of key segments, so a range (`loadRange`, `listKeys`, `removeRange`) visits
 * only the entries under its prefix: a device opening 1,000 contacts asks for 2,000 documents' chunks,
 * and a flat map scanned every key for each of them (quadratic; most of the open's time at 1,000).
 * @module
 */
import type { StorageAdapter, StorageChunk, StorageKey } from '../effects/storage.js';
import { assertKey } from './storageKeys.js';

/** A key segment's node: the value stored under the key that ends here, and the longer keys below. */
interface Node {
  value?: Uint8Array;
  children?: Map<string, Node>;
}

/** Storage in memory, for tests and throwaway devices: gone when the process ends. */
export class MemoryStorage implements StorageAdapter {
  readonly #root: Node = {};
  #size = 0;

  /** The node of `key`, or undefined; with `create`, made on the way. */
  #node(key: StorageKey, create = false): Node | undefined {
    let node = this.#root;
    for (const segment of key) {
      let next = node.children?.get(segment);
      if (!next) {
        if (!create) return undefined;
        next = {};
        (node.children ??= new Map()).set(segment, next);
      }
      node = next;
    }
    return node;
  }

  /** Every entry at or below `node`, its key starting with `prefix`. */
  #collect(node: Node, prefix: StorageKey, visit: (key: StorageKey, value: Uint8Array) => void): void {
    if (node.value) visit(prefix, node.value);
    if (node.children) for (const [segment, child] of node.children) this.#collect(child, [...prefix, segment], visit);
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const v = this.#node(assertKey(key))?.value;
    return v && v.slice();
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const node = this.#node(assertKey(key), true)!;
    if (!node.value) this.#size++;
    node.value = data.slice();
  }

  async remove(key: StorageKey): Promise<void> {
    this.#removeBelow(this.#root, assertKey(key), 0, false);
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const out: StorageChunk[] = [];
    const node = this.#node(assertKey(prefix, true));
    if (node) this.#collect(node, [...prefix], (key, data) => out.push({ key, data: data.slice() }));
    return out;
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const out: StorageKey[] = [];
    const node = this.#node(assertKey(prefix, true));
    if (node) this.#collect(node, [...prefix], (key) => out.push(key));
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    this.#removeBelow(this.#root, assertKey(prefix, true), 0, true);
  }

  /**
   * Remove the value at `key` (and with `subtree` everything below it), pruning nodes left empty so a
   * removed range costs nothing later. True when `node` is itself empty afterwards.
   */
  #removeBelow(node: Node, key: StorageKey, depth: number, subtree: boolean): boolean {
    if (depth === key.length) {
      if (subtree) {
        let removed = 0;
        this.#collect(node, [], () => removed++);
        this.#size -= removed;
        node.children = undefined;
      } else if (node.children?.size === 0) node.children = undefined;
      if (node.value) {
        if (!subtree) this.#size--;
        node.value = undefined;
      }
      return !node.children;
    }
    const child = node.children?.get(key[depth]!);
    if (child && this.#removeBelow(child, key, depth + 1, subtree)) {
      node.children!.delete(key[depth]!);
      if (node.children!.size === 0) node.children = undefined;
    }
    return !node.value && !node.children;
  }

  /** How many entries are stored (tests). */
  get size(): number {
    return this.#size;
  }
}
