import { createHash } from 'node:crypto';
import type { RunEnv } from '../types.js';

/**
 * A UUID derived from the conversion's inputs (input path name, artifact name, epoch) and a
 * purpose, so that two runs on the same input and config produce the same bytes.
 */
export function derivedUuid(env: Pick<RunEnv, 'inputPath' | 'config' | 'epoch'>, purpose: string): string {
  const seed = [env.inputPath.split('/').pop(), env.config['artifact.name'], env.epoch, purpose].join('\0');
  const hex = createHash('sha256').update(seed).digest('hex');
  // RFC 4122 layout: version 4 (random-looking), variant 10xx.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
