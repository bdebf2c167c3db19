import { fileURLToPath } from 'node:url';

/** The installed package's root directory (package.json, configs/), from this module's place in it. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
