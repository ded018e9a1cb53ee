#!/usr/bin/env node
// The latchkey command; the implementation is in src/cli (built to dist/cli).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
