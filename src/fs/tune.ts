import { run } from '../util/exec.js';
import { UserError } from '../util/errors.js';

/**
 * mke2fs-style options for an existing ext4 filesystem, applied with tune2fs: the root filesystem
 * is kept (edited in place, never rebuilt), so only options tune2fs can change are accepted.
 */
const TUNABLE = new Set(['-O', '-L', '-m', '-U', '-e', '-c', '-i', '-E', '-r', '-M', '-o']);

export function parseTuneOptions(text: string, knob: string): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const args: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const flag = word.slice(0, 2);
    if (!TUNABLE.has(flag)) {
      throw new UserError(`${knob}: '${word}' needs the filesystem to be re-created, which mender-convert does not do to the root filesystem.`, {
        hint: `Options that tune2fs can apply are accepted: ${[...TUNABLE].join(' ')} (e.g. -O ^has_journal).`,
      });
    }
    if (word.length > 2) {
      args.push(flag, word.slice(2));
    } else {
      const value = words[++i];
      if (value === undefined) throw new UserError(`${knob}: '${word}' needs a value.`);
      args.push(flag, value);
    }
  }
  return args;
}

export async function tuneExt4(image: string, args: string[]): Promise<void> {
  if (args.length === 0) return;
  await run('tune2fs', [...args, image], { doing: 'applying rootfs.mkfs_opts with tune2fs' });
}
