import type { UiEvent } from '../uiMachine.js';
/** What a screen may do: send the UI machine an event. */
export type Send = (event: UiEvent) => void;
