/**
 * Nameplates freed recently are allocated again last. When an invite renews its code (or ends), a
 * late redeemer of the old code then claims an empty nameplate and learns the code expired
 * (CodeExpiredError), instead of meeting someone's new code there (a WrongCodeError that also kills
 * that code). A preference, never a refusal: when only recently freed ones are left, the one freed
 * longest ago is used.
 * Kept per relay process, bounded.
 * @module
 */

/** How long a freed nameplate waits behind the others. */
export const NAMEPLATE_REUSE_MS = 60_000;
/** At most this many freed nameplates remembered (the oldest are forgotten first). */
export const NAMEPLATE_REUSE_MAX = 10_000;

export class RecentlyFreed {
  /** appid\0nameplate → when it was freed; insertion order is time order (re-freeing moves it last). */
  readonly #freed = new Map<string, number>();
  constructor(
    readonly ms = NAMEPLATE_REUSE_MS,
    readonly max = NAMEPLATE_REUSE_MAX,
  ) {}

  freed(appid: string, name: string, now: number): void {
    const k = `${appid}\0${name}`;
    this.#freed.delete(k);
    this.#freed.set(k, now);
    if (this.#freed.size > this.max) this.#freed.delete(this.#freed.keys().next().value!);
  }

  /**
   * The free nameplates to choose from: those not freed recently; if every one was, the one freed
   * longest ago (so the one just freed comes last).
   */
  prefer(appid: string, free: string[], now: number): string[] {
    for (const [k, at] of this.#freed) {
      if (now - at < this.ms) break;
      this.#freed.delete(k);
    }
    const rested = free.filter((name) => !this.#freed.has(`${appid}\0${name}`));
    if (rested.length > 0 || free.length === 0) return rested;
    const candidates = new Set(free.map((name) => `${appid}\0${name}`));
    for (const k of this.#freed.keys()) if (candidates.has(k)) return [k.slice(appid.length + 1)];
    return free;
  }

  get size(): number {
    return this.#freed.size;
  }
}
