import path from 'node:path';
import { execa, type Options } from 'execa';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'bin/mender-convert.js');

/**
 * Run the built CLI (npm test builds dist/ first) as a user would, capturing everything.
 * The client install (which needs package repositories) is off unless a test turns it on.
 */
export function runCli(args: string[], options: Options = {}) {
  return execa('node', [CLI, ...args], { reject: false, all: true, ...options, env: { CI: 'true', MENDER_CLIENT_INSTALL: 'n', ...options.env } });
}
