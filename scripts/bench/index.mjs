#!/usr/bin/env zx
// npm run bench: the Artifact writer against mender-artifact, then the whole conversion against
// upstream's method and the I/O limit. Options are passed on (--runs N …).
import { $, argv, path } from 'zx';

const here = path.dirname(new URL(import.meta.url).pathname);
const passOn = process.argv.slice(3);
$.verbose = true;
if (!argv['convert-only']) await $`npx zx ${path.join(here, 'artifact.mjs')} ${passOn}`;
if (!argv['artifact-only']) await $`npx zx ${path.join(here, 'convert.mjs')} ${passOn}`;
