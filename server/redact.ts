/**
 * A URL as it may be printed or logged: without its password (`redis://:secret@host` → `redis://host`).
 * @module
 */
export function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.href;
  } catch {
    return '(unparsable URL)';
  }
}
