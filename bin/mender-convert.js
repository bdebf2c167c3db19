#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (npm run build; run by `npm install` in a clone
// and by `npm pack` through the prepare script, so a packed or installed copy always has it).
import '../dist/cli/main.js';
