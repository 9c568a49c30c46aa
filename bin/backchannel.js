#!/usr/bin/env node
// This repository's `backchannel` (tests, `npm run demo`); installed, it is @backchannel/cli's bin.
import { runCli } from '../dist/cli/index.js';
await runCli();
