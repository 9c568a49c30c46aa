/** A raw relay client that proves a contact's topic, as a device does: answer the challenge with `prove`. */
import { fromHex } from '../../src/crypto/bytes.js';
import { proveTopic, topicKey } from '../../src/crypto/topicKey.js';
import type { RawClient } from './rawClient.js';

/** The relay's challenge on `client` (its first frame). */
export async function challengeOf(client: RawClient): Promise<Uint8Array> {
  const frame = await client.next((f) => f.type === 'challenge');
  return fromHex(frame.challenge as string);
}

/** Prove the topic of `contactKey` on `client`; resolves with the topic once the relay says `proven`. */
export async function proveOn(client: RawClient, contactKey: Uint8Array): Promise<string> {
  const key = topicKey(contactKey);
  client.send({ type: 'prove', ...proveTopic(key, await challengeOf(client)) });
  await client.next((f) => f.type === 'proven' && f.topic === key.topic);
  return key.topic;
}
