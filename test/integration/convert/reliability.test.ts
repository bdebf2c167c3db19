import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../../helpers/cli.js';
import { buildGoldenImage } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'reliability-'));
const CONFIG = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: gzip\n';
let golden: string;
let config: string;

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden'), files: { 'data/keep/me': 'x\n' } })).image;
  config = path.join(base, 'c.yaml');
  fs.writeFileSync(config, CONFIG);
});

describe('reproducible outputs', () => {
  it('two runs with SOURCE_DATE_EPOCH in different work directories write identical bytes', async () => {
    const runs = [];
    for (const name of ['first', 'second']) {
      const deploy = path.join(base, `repro-${name}`);
      const result = await runCli(['--disk-image', golden, '--config', config, '-n', 'repro-1', '--output-dir', deploy, '--work-dir', path.join(base, `work-${name}`)], {
        env: { SOURCE_DATE_EPOCH: '1700000000' },
      });
      expect(result.exitCode, result.all).toBe(0);
      runs.push(deploy);
      // a different day: the clock moves on between the runs
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    for (const suffix of ['.img.gz', '.ext4', '.mender']) {
      const [a, b] = runs.map((deploy) => sha256(path.join(deploy, `golden-testhost-mender${suffix}`)));
      expect(a, suffix).toBe(b);
    }
    const results = JSON.parse(fs.readFileSync(path.join(runs[0]!, 'golden-testhost-mender.json'), 'utf8'));
    expect(results.sourceDateEpoch).toBe(1700000000);
  });
});

describe('work directory lock', () => {
  it('a second conversion in a busy work directory refuses; separate work directories run side by side', async () => {
    const work = path.join(base, 'shared-work');
    fs.mkdirSync(work, { recursive: true });
    // Another process holds the kernel lock on the work directory.
    const holder = execa('flock', ['--no-fork', path.join(work, '.lock'), 'sh', '-c', 'echo held; exec sleep 60'], { reject: false });
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    const refused = await runCli(['--disk-image', golden, '--config', config, '-n', 'l-1', '--output-dir', path.join(base, 'locked'), '--work-dir', work]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/Another conversion .*is using the work directory/);
    expect(fs.existsSync(path.join(base, 'locked')) ? fs.readdirSync(path.join(base, 'locked')) : []).toEqual([]);
    holder.kill('SIGKILL');
    await holder;
    // A PID left in the lock file means nothing: the lock went with its holder.
    fs.writeFileSync(path.join(work, '.lock'), `${process.pid}\n`);
    const parallel = await Promise.all(
      ['p1', 'p2'].map((name) =>
        runCli(['--disk-image', golden, '--config', config, '-n', name, '--output-dir', path.join(base, `par-${name}`), '--work-dir', name === 'p1' ? work : path.join(base, 'work-p2')]),
      ),
    );
    for (const result of parallel) expect(result.exitCode, result.all).toBe(0);
  });

  it('stays usable after a conversion is killed with SIGKILL: the next run converts and removes what the killed one left', async () => {
    const work = path.join(base, 'killed-work');
    const deploy = path.join(base, 'killed-deploy');
    // Staging directories go where the run's TMPDIR says unless the run keeps them in its own directory.
    const tmp = fs.mkdtempSync(path.join(base, 'killed-tmp-'));
    const child = execa('node', [CLI, '--disk-image', golden, '--config', config, '-n', 'k-1', '--output-dir', deploy, '--work-dir', work], {
      reject: false, all: true, env: { CI: 'true', MENDER_CLIENT_INSTALL: 'n', TMPDIR: tmp },
    });
    // Killed while a staging directory exists (wherever the run makes them).
    const staging = () => [tmp, ...(fs.existsSync(work) ? fs.readdirSync(work).filter((n) => n.startsWith('run-')).map((n) => path.join(work, n, 'tmp')) : [])]
      .some((dir) => fs.existsSync(dir) && fs.readdirSync(dir).length > 0);
    for (const started = Date.now(); !staging(); await new Promise((resolve) => setTimeout(resolve, 10))) {
      if (Date.now() - started > 60_000 || child.exitCode !== null) throw new Error('the run never made a staging directory');
    }
    child.kill('SIGKILL');
    await child;
    const abandoned = fs.readdirSync(work).filter((name) => name.startsWith('run-'));
    expect(abandoned).toHaveLength(1);
    const next = await runCli(['--disk-image', golden, '--config', config, '-n', 'k-2', '--output-dir', deploy, '--work-dir', work], { env: { TMPDIR: tmp } });
    expect(next.exitCode, next.all).toBe(0);
    expect(fs.readdirSync(tmp), 'the killed run\'s staging directories went with its run directory').toEqual([]);
    expect(fs.readdirSync(work).filter((name) => name.startsWith('run-'))).toEqual([]);
    expect(fs.readdirSync(deploy).some((name) => name.endsWith('-mender.img.gz'))).toBe(true);
  });
});

describe('interruption', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s ends the run within 5 s, cleanly, saying where it stopped', async (signal) => {
    const deploy = path.join(base, `interrupted-${signal}`);
    const work = path.join(base, `work-${signal}`);
    const before = { sha: sha256(golden), mtime: fs.statSync(golden).mtimeMs };
    const child = execa('node', [CLI, '--disk-image', golden, '--config', config, '-n', 'int-1', '--output-dir', deploy, '--work-dir', work], {
      reject: false,
      all: true,
      env: { CI: 'true', MENDER_CLIENT_INSTALL: 'n' },
    });
    // Wait until the conversion is under way, then interrupt it.
    await new Promise<void>((resolve) => {
      child.all!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Apply the Mender root filesystem layout')) resolve();
      });
    });
    const sent = Date.now();
    child.kill(signal);
    const result = await child;
    expect(Date.now() - sent).toBeLessThan(5000);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr, `${result.all}\nsignal: ${result.signal}`).toMatch(new RegExp(`Interrupted by ${signal}( during ".*")?; no output was written`));
    expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
    expect(fs.readdirSync(work).filter((name) => name.startsWith('run-'))).toEqual([]);
    expect({ sha: sha256(golden), mtime: fs.statSync(golden).mtimeMs }).toEqual(before);
  });
});
