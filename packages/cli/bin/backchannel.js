#!/usr/bin/env node
// The command lives in the SDK (@backchannel/sdk/cli); this package brings it `ws`, the SDK's optional peer.
import { runCli } from '@backchannel/sdk/cli';
await runCli();
