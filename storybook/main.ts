/** Storybook for the web app's screens (`npm run storybook`; `npm run build:storybook` → dist-storybook/). */
import type { StorybookConfig } from '@storybook/react-vite';
import { fileURLToPath } from 'node:url';

const config: StorybookConfig = {
  stories: ['./stories/*.stories.tsx'],
  framework: { name: '@storybook/react-vite', options: { builder: { viteConfigPath: fileURLToPath(new URL('./vite.config.ts', import.meta.url)) } } },
  core: { disableTelemetry: true, disableWhatsNewNotifications: true },
  // The stories are scenes, not component docs: no prop tables to extract (it took most of the build).
  typescript: { reactDocgen: false },
  // The preview frame names Storybook's own icon, so browsers do not ask for a missing /favicon.ico.
  previewHead: (head) => `${head ?? ''}<link rel="icon" href="./favicon.svg" type="image/svg+xml">`,
};
export default config;
