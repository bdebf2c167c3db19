import path from 'node:path';
import { execa, type Options } from 'execa';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'bin/mender-convert.js');

/** The environment of a test's conversion: no progress display, and the client install (which needs package repositories) off unless a test turns it on. */
export const CLI_ENV = { CI: 'true', MENDER_CLIENT_INSTALL: 'n' };

/** Run the built CLI (npm test builds dist/ first) as a user would, capturing everything. */
export function runCli(args: string[], options: Options = {}) {
  return execa('node', [CLI, ...args], { reject: false, all: true, ...options, env: { ...CLI_ENV, ...options.env } });
}
