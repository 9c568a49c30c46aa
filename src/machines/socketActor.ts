/**
 * The socket as an XState callback actor: it opens one connection through the injected
 * {@link SocketConnector}, reports `socket.open` / `socket.frame` / `socket.closed` to its parent, sends
 * what the parent tells it to, and closes the connection when the state that invoked it is left.
 * @module
 */
import { fromCallback } from 'xstate';
import type { CloseInfo, SocketConnector } from '../effects/socket.js';

/** What the socket actor reports to its parent: open, each text frame, and the close. */
export type SocketEvent = { type: 'socket.open' } | { type: 'socket.frame'; text: string } | ({ type: 'socket.closed' } & CloseInfo);

/** What a parent tells the socket actor: send a text frame. */
export type SocketCommand = { type: 'socket.send'; text: string };

/** One socket connection as a callback actor: open through the injected connector, closed when its state is left. */
export const socketActor = fromCallback<SocketCommand, { url: string; connector: SocketConnector }, SocketEvent>(({ input, sendBack, receive }) => {
  let stopped = false;
  const socket = input.connector(input.url, {
    onOpen: () => !stopped && sendBack({ type: 'socket.open' }),
    onMessage: (text) => !stopped && sendBack({ type: 'socket.frame', text }),
    onClose: (info) => !stopped && sendBack({ type: 'socket.closed', ...info }),
  });
  receive((command) => socket.send(command.text));
  return () => {
    stopped = true;
    socket.close();
  };
});
