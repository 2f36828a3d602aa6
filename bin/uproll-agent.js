#!/usr/bin/env node
import { runTypeScriptMain } from './typescript-entry.js';

await runTypeScriptMain('../cli/agent/main.ts');
