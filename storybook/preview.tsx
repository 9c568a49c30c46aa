import type { Preview } from '@storybook/react-vite';
import '../web/src/styles.css';

const preview: Preview = {
  parameters: { layout: 'fullscreen' },
};
export default preview;
