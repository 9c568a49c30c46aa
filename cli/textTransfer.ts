/**
 * `wormhole send --text` / `wormhole receive` as magic-wormhole 0.12's CLI does them (cli/cmd_send.py,
 * cli/cmd_receive.py), text only: the sender offers `{"offer":{"message":…}}` as phase 0, the receiver
 * answers `{"answer":{"message_ack":"ok"}}`; both close "happy". Text never touches a transit relay.
 * @module
 */
import { ProtocolError, BackchannelError } from '../src/errors.js';
import { Wormhole, type WormholeOptions } from '../src/wormhole/wormhole.js';

/** magic-wormhole's appid for its file and text transfer; both sides must use it to meet. */
export const WORMHOLE_TEXT_APPID = 'lothar.com/wormhole/text-or-file-xfer';

type Base = Omit<WormholeOptions, 'appid' | 'code'>;

interface Offer {
  offer?: { message?: string; file?: unknown; directory?: unknown };
  answer?: { message_ack?: string };
  error?: string;
  transit?: unknown;
}

export async function sendText(options: Base & { text: string; code?: string; onCode?: (code: string) => void }): Promise<void> {
  const wormhole = new Wormhole({ ...options, appid: WORMHOLE_TEXT_APPID, code: options.code });
  try {
    options.onCode?.(await wormhole.code);
    await wormhole.verified;
    wormhole.send({ offer: { message: options.text } });
    for (;;) {
      const reply = await wormhole.nextJson<Offer>();
      if (reply.error !== undefined) throw new ProtocolError(`remote error, transfer abandoned: ${reply.error}`);
      if (reply.answer) {
        if (reply.answer.message_ack !== 'ok') throw new ProtocolError(`error sending text: ${JSON.stringify(reply.answer)}`);
        break;
      }
      // "transit" and anything unknown: ignored, as the Python sender does for text.
    }
    await wormhole.close('happy');
  } catch (err) {
    await wormhole.close(err instanceof BackchannelError && err.code === 'WRONG_CODE' ? 'scary' : 'errory').catch(() => {});
    throw err;
  }
}

export async function receiveText(options: Base & { code: string }): Promise<string> {
  const wormhole = new Wormhole({ ...options, appid: WORMHOLE_TEXT_APPID, code: options.code });
  try {
    await wormhole.verified;
    for (;;) {
      const message = await wormhole.nextJson<Offer>();
      if (message.error !== undefined) throw new ProtocolError(`remote error, transfer abandoned: ${message.error}`);
      if (!message.offer) continue; // "transit" hints: only used for files
      if (typeof message.offer.message !== 'string') {
        wormhole.send({ error: 'transfer rejected: this receiver only takes text' });
        throw new ProtocolError('The sender offered a file or directory; only text is supported here.');
      }
      wormhole.send({ answer: { message_ack: 'ok' } });
      await wormhole.close('happy');
      return message.offer.message;
    }
  } catch (err) {
    await wormhole.close('errory').catch(() => {});
    throw err;
  }
}
