/**
 * What a relay may see of DISCOVER: routing fields in clear, and blobs that are opaque. A sealed blob is
 * random-looking base64, so it can contain any short string by chance ("sdp" turns up in about one run
 * in fifty): the checks look for signalling in the clear fields, and for whole SDP/ICE markers in the
 * blobs' bytes, which chance does not produce.
 */
const SIGNALLING_IN_BYTES = ['"sdp"', 'a=candidate', 'candidate:', 'v=0\r\n', 'ice-ufrag'];

export function relayLeaks(frames: string[], secrets: string[], addresses: string[] = []): string[] {
  const leaks: string[] = [];
  for (const text of frames) {
    const frame = JSON.parse(text) as Record<string, unknown>;
    const { blob, ...clear } = frame;
    const visible = JSON.stringify(clear);
    for (const s of ['sdp', 'candidate', 'ice-ufrag', ...addresses]) if (visible.includes(s)) leaks.push(`"${s}" in ${visible}`);
    if (/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/.test(visible)) leaks.push(`an IP address in ${visible}`);
    if (typeof blob === 'string') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(blob)) leaks.push(`a blob that is not base64: ${blob.slice(0, 40)}`);
      const bytes = Buffer.from(blob, 'base64').toString('latin1');
      for (const s of [...SIGNALLING_IN_BYTES, ...addresses]) if (bytes.includes(s)) leaks.push(`"${s}" inside a blob`);
    }
    for (const s of secrets) if (text.includes(s)) leaks.push(`a secret in ${text.slice(0, 80)}`);
  }
  return leaks;
}
