import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputSet } from '../../../src/pipeline/outputs.js';
import { runStage, Stage, StageFailure } from '../../../src/pipeline/runner.js';
import { testsConfig } from '../../../src/pipeline/report/tests-config.js';
import { decideTarget } from '../../../src/pipeline/stages/target.js';
import { envWith, extractedWith, factsWith } from './fixtures.js';

const quiet = { interactive: false, quiet: true };

describe('stages', () => {
  it('hand each step the value the one before returned; `also` steps pass it on or are skipped', async () => {
    const env = envWith('');
    const seen: string[] = [];
    const stage = Stage.start<{ n: number; extra: boolean }>('Test')
      .then('double', async (_env, input) => ({ ...input, n: input.n * 2 }))
      .also('note', async (_env, value) => void seen.push(`note ${value.n}`))
      .also('skipped', async () => void seen.push('skipped ran'), (input) => input.extra)
      .then('describe', async (_env, value) => `n=${value.n}`);
    expect(await runStage(env, stage, { n: 21, extra: false }, quiet)).toBe('n=42');
    expect(seen).toEqual(['note 42']);
    expect(env.durations.map((d) => d.step)).toEqual(['double', 'note', 'describe']);
  });

  it('say which step failed', async () => {
    const stage = Stage.start<void>('Test')
      .then('first', async () => 1)
      .then('breaks', async () => {
        throw new Error('no');
      });
    const failure = await runStage(envWith(''), stage, undefined, quiet).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StageFailure);
    expect((failure as StageFailure).step).toBe('breaks');
  });

  it('stop before the next step once interrupted', async () => {
    const abort = new AbortController();
    let ran = false;
    const stage = Stage.start<void>('Test')
      .then('interrupts', async () => abort.abort('SIGINT'))
      .then('never', async () => (ran = true));
    await expect(runStage(envWith(''), stage, undefined, { ...quiet, signal: abort.signal })).rejects.toThrow(/never: Interrupted/);
    expect(ran).toBe(false);
  });
});

describe('outputs', () => {
  it('are published together under their final names, readable by all; a failed run removes only its own partial files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outputs-'));
    const outputs = new OutputSet(dir, 'run-a');
    const other = new OutputSet(dir, 'run-b');
    fs.writeFileSync(outputs.partial(path.join(dir, 'x.img')), 'image', { mode: 0o600 });
    fs.writeFileSync(other.partial(path.join(dir, 'x.img')), 'other run');
    outputs.add('image', path.join(dir, 'x.img'), Promise.resolve('sum'));
    expect(fs.existsSync(path.join(dir, 'x.img'))).toBe(false);
    const published = await outputs.publish();
    expect(published).toMatchObject([{ kind: 'image', path: path.join(dir, 'x.img'), bytes: 5 }]);
    expect(await published[0]!.sha256).toBe('sum');
    expect(fs.statSync(path.join(dir, 'x.img')).mode & 0o777).toBe(0o644);

    fs.writeFileSync(outputs.partial(path.join(dir, 'y.mender')), 'partial');
    await outputs.discard();
    expect(fs.readdirSync(dir).sort()).toEqual(['x.img', `x.img.partial-run-b`]);
  });
});

describe('the tests config', () => {
  it('names the partitions, the layout and the bootloader as Mender\'s acceptance tests read them', () => {
    const env = envWith('bootloader:\n  type: uboot\ndevice:\n  types: [pi]\nstorage:\n  alignment: 4194304\n  total_size_mb: 1024\n');
    const target = decideTarget(env, extractedWith({ facts: factsWith({ arch: 'arm64' }) }));
    const cfg = testsConfig(env, target, { dataFile: '', packages: [], clientInstalled: true, rawWrites: [] });
    expect(cfg).toContain('MENDER_ROOTFS_PART_B="/dev/mmcblk0p3"\n');
    expect(cfg).toContain('MENDER_PARTITIONING_OVERHEAD_KB="24576"\n');
    expect(cfg).toContain('MENDER_FEATURES="mender-convert mender-uboot mender-client-install"\n');
    expect(cfg).toContain('IMAGE_FSTYPES="ext4 mender sdimg"\n');
    expect(cfg).toContain('MENDER_BOOT_PART_MOUNT_LOCATION="/uboot"\n');
  });
});
