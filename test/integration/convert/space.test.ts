import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage } from '../../helpers/images.js';

/** Small filesystems (tmpfs) to run out of space on; mounting needs root, so do the tests. */
const isRoot = process.getuid?.() === 0;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'space-'));
const mounts: string[] = [];
const CONFIG = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\n';
let golden: string;
let config: string;

async function smallFilesystem(name: string, size: string): Promise<string> {
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

const fingerprint = (file: string) => ({ sha: createHash('sha256').update(fs.readFileSync(file)).digest('hex'), mtime: fs.statSync(file).mtimeMs });

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
  config = path.join(base, 'c.yaml');
  fs.writeFileSync(config, CONFIG);
});

afterAll(async () => {
  for (const dir of mounts) await execa('umount', [dir], { reject: false });
});

describe.runIf(isRoot)('out of space', () => {
  it('a preflight estimate refuses early, with the numbers', async () => {
    const tiny = await smallFilesystem('tiny', '4M');
    const before = fingerprint(golden);
    const result = await runCli(['--disk-image', golden, '--config', config, '-n', 's-1', '--output-dir', path.join(tiny, 'deploy'), '--work-dir', path.join(tiny, 'work')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^error: Not enough disk space: .* need about \d+ MiB, but .* has \d+ MiB free\./m);
    expect(fingerprint(golden)).toEqual(before);
  });

  it('running out of space in the output directory mid-run ends cleanly with the path', async () => {
    // 20 MiB of incompressible content: the estimate (twice the input's allocated size) fits in
    // the output directory, the outputs (root filesystem three times, the Artifact) do not.
    const dir = path.join(base, 'big');
    const blob = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE((i * 2654435761) >>> 0, i);
    const big = (await buildGoldenImage({ dir, rootMiB: 48, files: { 'opt/blob': blob.toString('latin1') } })).image;
    const estimateMiB = 2 * Math.ceil((fs.statSync(big).blocks * 512) / (1024 * 1024));
    const small = await smallFilesystem('small', `${estimateMiB + 2}M`);
    const before = fingerprint(big);
    const deploy = path.join(small, 'deploy');
    const bigConfig = path.join(base, 'big.yaml');
    fs.writeFileSync(bigConfig, CONFIG.replace('160', '400'));
    const work = path.join(base, 'work-enospc');
    const result = await runCli(['--disk-image', big, '--config', bigConfig, '-n', 's-1', '--output-dir', deploy, '--work-dir', work]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^error: No space left on the device while writing .*small\/deploy\//m);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
    expect(fs.readdirSync(work).filter((n) => n.startsWith('run-'))).toEqual([]);
    expect(fingerprint(big)).toEqual(before);
  });
});

describe('the output never overwrites the input', () => {
  it('refuses when the input sits where an output would be written', async () => {
    const dir = path.join(base, 'self');
    fs.mkdirSync(dir, { recursive: true });
    const input = path.join(dir, 'golden.img');
    fs.copyFileSync(golden, input);
    const before = fingerprint(input);
    const result = await runCli(['--disk-image', input, '--config', config, '-n', 's-1', '--output-dir', dir, '--work-dir', path.join(base, 'work-self')], {
      env: { DEPLOY_IMAGE_NAME: 'golden' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/would overwrite the input image/);
    expect(fingerprint(input)).toEqual(before);
    expect(fs.readdirSync(dir)).toEqual(['golden.img']);
  });
});
