#!/usr/bin/env zx
// Regenerates configs/defaults.yaml and configs/schema.json from the knob table (src/config/knobs.ts).
// Run after `npm run build`; `npm test` fails when the committed files are out of date.
import { fs, path } from 'zx';
import { renderDefaultsYaml, renderJsonSchema } from '../dist/config/render.js';

const configs = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'configs');
await fs.writeFile(path.join(configs, 'defaults.yaml'), renderDefaultsYaml());
await fs.writeFile(path.join(configs, 'schema.json'), renderJsonSchema());
console.log('wrote configs/defaults.yaml and configs/schema.json');
