import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import type { ImageFacts } from '../../image/probe.js';
import { UserError } from '../../util/errors.js';
import type { BoardRawFile, RunEnv } from '../types.js';
import { readUbootSource } from './uboot/index.js';

/**
 * board.raw_files: what a board writes into the disk image before the first partition (its boot
 * loader at the sectors its boot ROM reads), from the U-Boot source (uboot:<name>) or the host.
 */

const UBOOT_PREFIX = 'uboot:';

/** Before anything is extracted: uboot: files need the U-Boot integration, host files must be readable files. */
export async function verifyBoardRawFiles(env: RunEnv): Promise<void> {
  const where = `board.raw_files (${env.sources['board.raw_files']})`;
  for (const { file } of env.config['board.raw_files']) {
    if (file.startsWith(UBOOT_PREFIX)) {
      if (env.config['bootloader.type'] !== 'uboot') {
        throw new UserError(`${where} takes ${file} from the U-Boot source, but bootloader.type is ${env.config['bootloader.type']}.`, { hint: 'Name the file by its path, or set bootloader.type: uboot.' });
      }
      continue;
    }
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat?.isFile()) throw new UserError(`The raw file ${file} does not exist or is not a file.`, { hint: `Check ${where}; paths are relative to the config file that names them.` });
  }
}

/** Every entry of board.raw_files read, in order; the U-Boot source is fetched once for all of its files. */
export async function readBoardRawFiles(env: RunEnv, facts: ImageFacts): Promise<BoardRawFile[]> {
  const entries = env.config['board.raw_files'];
  const ubootNames = entries.filter((entry) => entry.file.startsWith(UBOOT_PREFIX)).map((entry) => entry.file.slice(UBOOT_PREFIX.length));
  const uboot = ubootNames.length > 0 ? await readUbootSource(env, facts, [...new Set(ubootNames)]) : undefined;
  const files: BoardRawFile[] = [];
  for (const { file, offset } of entries) {
    const fromUboot = file.startsWith(UBOOT_PREFIX);
    const data = fromUboot ? uboot!.files.get(file.slice(UBOOT_PREFIX.length))! : await fs.readFile(file);
    if (data.length === 0) throw new UserError(`The raw file ${file} is empty.`, { hint: `Check board.raw_files (${env.sources['board.raw_files']}).` });
    const sha256 = createHash('sha256').update(data).digest('hex');
    const origin = fromUboot ? uboot!.origin : `file ${file}`;
    env.logger.info(`board: raw file ${file} (${data.length} bytes, sha256 ${sha256}) from ${origin}, at byte ${offset}`);
    files.push({ name: file, origin, offset, data, sha256 });
  }
  return files;
}
