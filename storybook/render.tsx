/** How every story renders: the web app itself, on the scene its loader made. */
import type { Decorator } from '@storybook/react-vite';
import { App } from '../web/src/App.js';
import type { Scene } from './world.js';

export const LINK_BASE = () => 'https://backchannel.example/';

export function renderScene(_args: unknown, { loaded }: { loaded: Record<string, unknown> }) {
  const { ui, prefs } = loaded.scene as Scene;
  return <App ui={ui} prefs={prefs} linkBase={LINK_BASE} />;
}

/** Marks the root once the scene rendered, for the test that renders every story. */
export const ready: Decorator = (Story) => (
  <div data-story-ready="">
    <Story />
  </div>
);
