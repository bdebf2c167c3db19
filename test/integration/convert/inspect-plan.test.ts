import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConversionResult } from '../../../src/pipeline/report/results.js';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'inspect-plan-'));
const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\ndevice:\n  types: [board-a, board-b]\n';
let golden: string;
let config: string;
let deploy: string;
let results: ConversionResult;

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
  config = path.join(base, 'c.yaml');
  fs.writeFileSync(config, SMALL);
  deploy = path.join(base, 'deploy');
  const result = await runCli(['--disk-image', golden, '--config', config, '-n', 'inspect-1', '--output-dir', deploy, '--work-dir', path.join(base, 'work')], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  expect(result.exitCode, result.all).toBe(0);
  results = JSON.parse(fs.readFileSync(path.join(deploy, 'golden-board-a+board-b-mender.json'), 'utf8'));
});

describe('the conversion result JSON', () => {
  it('records inputs, effective config, layout, outputs with checksums and durations', () => {
    expect(results.input.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(results.sourceDateEpoch).toBe(1700000000);
    expect(results.config['storage.total_size_mb']).toBe(160);
    expect(results.layout.partitions.map((p: { role: string }) => p.role)).toEqual(['boot', 'rootfs-a', 'rootfs-b', 'data']);
    const kinds = results.outputs.map((o: { kind: string }) => o.kind).sort();
    expect(kinds).toEqual(['artifact', 'image', 'rootfs', 'sbom', 'sbom', 'tests-config']);
    for (const output of results.outputs) {
      // Hashed while written (the raw image as its parts became final), equal to hashing the file.
      expect(output.sha256).toBe(createHash('sha256').update(fs.readFileSync(output.path)).digest('hex'));
      expect(fs.statSync(output.path).size).toBe(output.bytes);
    }
    expect(results.durations.length).toBeGreaterThan(5);
  });
});

describe('rootfs B left empty (rootfs.b_content: empty)', () => {
  it('writes only zeros into partition 3 and still records the image checksum', async () => {
    const emptyConfig = path.join(base, 'empty-b.yaml');
    fs.writeFileSync(emptyConfig, `${SMALL}rootfs:\n  b_content: empty\n`);
    const out = path.join(base, 'deploy-empty-b');
    const result = await runCli(['--disk-image', golden, '--config', emptyConfig, '-n', 'empty-1', '--output-dir', out, '--work-dir', path.join(base, 'work-empty-b')]);
    expect(result.exitCode, result.all).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'golden-board-a+board-b-mender.json'), 'utf8'));
    const image = json.outputs.find((o: { kind: string }) => o.kind === 'image');
    const bytes = fs.readFileSync(image.path);
    expect(image.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const [a, b] = [json.layout.partitions[1], json.layout.partitions[2]];
    expect(bytes.subarray(b.start, b.start + b.size).every((byte) => byte === 0)).toBe(true);
    expect(bytes.subarray(a.start, a.start + 4096).some((byte) => byte !== 0)).toBe(true);
  });
});

describe('inspect', () => {
  it('reports on a converted image what the conversion JSON says', async () => {
    const image = path.join(deploy, 'golden-board-a+board-b-mender.img');
    const result = await runCli(['inspect', '--json', image]);
    expect(result.exitCode, result.all).toBe(0);
    const report = JSON.parse(String(result.stdout));
    expect(report.mender.converted).toBe(true);
    expect(report.mender.deviceTypes).toEqual(results.deviceTypes);
    expect(report.mender.artifactName).toBe(results.artifactName);
    expect(report.mender.rootfsPartA).toBe(results.layout.partitions[1]!.device);
    expect(report.arch).toBe(results.image.arch);
    expect(report.table.label).toBe(results.layout.scheme);
    expect(report.table.partitions.map((p: { start: number; size: number }) => [p.start, p.size])).toEqual(
      results.layout.partitions.map((p: { start: number; size: number }) => [p.start, p.size]),
    );
    expect(report.sha256).toBe(results.outputs.find((o: { kind: string }) => o.kind === 'image')!.sha256);
  });

  it("tells the pins that keep a converted device's identities, and a release converted with them has them", async () => {
    const convertAs = async (name: string, storage: string, input: string) => {
      const file = path.join(base, `${name}.yaml`);
      fs.writeFileSync(file, SMALL.replace('storage:\n', `storage:\n${storage.replace(/^storage:\n/, '')}`));
      const out = path.join(base, `deploy-${name}`);
      const result = await runCli(['--disk-image', input, '--config', file, '-n', name, '--output-dir', out, '--work-dir', path.join(base, `work-${name}`)]);
      expect(result.exitCode, result.all).toBe(0);
      return path.join(out, 'golden-board-a+board-b-mender.img');
    };
    // The device in the field: converted with another fleet's seed, names its partitions by PARTUUID.
    const field = await convertAs('field-1', 'storage:\n  partuuid: true\n  identity_seed: an-older-conversion\n', golden);
    const report = JSON.parse(String((await runCli(['inspect', '--json', field])).stdout));
    const table = report.table as { id: string; partitions: { number: number; partuuid: string }[] };
    expect(report.mender.identityPins).toEqual({
      'storage.disk_id': `0x${table.id}`,
      'storage.partuuid': true,
      ...Object.fromEntries(['boot', 'rootfs_a', 'rootfs_b', 'data'].map((role, i) => [`storage.${role}_part`, `/dev/disk/by-partuuid/${table.partitions[i]!.partuuid}`])),
    });
    const text = String((await runCli(['inspect', field])).stdout);
    expect(text).toContain(`to keep these identities in later releases, convert them with:\n    storage:\n      disk_id: "0x${table.id}"\n      partuuid: true\n`);

    // Release 2 from a rebuilt golden image (another disk identifier), its pins from the report.
    const rebuilt = (await buildGoldenImage({ dir: path.join(base, 'golden-rebuilt'), name: 'golden.img', diskId: '0badf00d' })).image;
    const pins = `${text.slice(text.indexOf('    storage:\n')).replace(/^ {4}/gm, '').trimEnd()}\n`;
    const next = await convertAs('field-2', pins, rebuilt);
    const again = JSON.parse(String((await runCli(['inspect', '--json', next])).stdout));
    expect(again.table.id).toBe(table.id);
    expect(again.table.partitions.map((p: { partuuid: string }) => p.partuuid)).toEqual(table.partitions.map((p) => p.partuuid));
    expect(again.mender.rootfsPartA).toBe(report.mender.rootfsPartA);
  });

  it('reports an unconverted golden image and an Artifact', async () => {
    const golden_ = JSON.parse(String((await runCli(['inspect', '--json', golden])).stdout));
    expect(golden_).toMatchObject({ kind: 'disk-image', arch: 'amd64', hostname: 'testhost', mender: { converted: false } });
    expect(golden_.os.id).toBe('debian');
    const artifact = JSON.parse(String((await runCli(['inspect', '--json', path.join(deploy, 'golden-board-a+board-b-mender.mender')])).stdout));
    expect(artifact).toMatchObject({ kind: 'artifact', artifact: { name: 'inspect-1', deviceTypes: ['board-a', 'board-b'] } });
    const text = await runCli(['inspect', golden]);
    expect(text.stdout).toMatch(/Mender-converted: no/);
  });

  it('a converted image given to convert again is refused with a hint', async () => {
    const image = path.join(deploy, 'golden-board-a+board-b-mender.img');
    const result = await runCli(['--disk-image', image, '--config', config, '-n', 'again', '--output-dir', path.join(base, 'again'), '--work-dir', path.join(base, 'work2')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/already Mender-converted/);
    expect(fs.existsSync(path.join(base, 'again')) ? fs.readdirSync(path.join(base, 'again')) : []).toEqual([]);
  });
});

describe('plan and --dry-run', () => {
  it('lists layout, file changes and outputs, and writes nothing', async () => {
    const out = path.join(base, 'plan-deploy');
    const result = await runCli(['plan', '--disk-image', golden, '--config', config, '-n', 'plan-1', '--output-dir', out, '--work-dir', path.join(base, 'work3')]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toContain('+ /etc/mender/scripts/version');
    expect(result.stdout).toContain('~ /etc/fstab');
    expect(result.stdout).toContain('+ /var/lib/mender (symlink)');
    expect(result.stdout).toContain('Nothing was written (dry run).');
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
    const json = await runCli(['plan', '--json', '--disk-image', golden, '--config', config, '-n', 'plan-1', '--output-dir', out, '--work-dir', path.join(base, 'work4')]);
    const plan = JSON.parse(String(json.stdout));
    expect(plan.layout.map((p: { start: number }) => p.start)).toEqual(results.layout.partitions.map((p: { start: number }) => p.start));
    expect(plan.changes.rootfs.some((c: { path: string }) => c.path === '/etc/fstab')).toBe(true);
    const dry = await runCli(['--dry-run', '--disk-image', golden, '--config', config, '-n', 'plan-1', '--output-dir', out, '--work-dir', path.join(base, 'work5')]);
    expect(dry.exitCode).toBe(0);
    expect(dry.stdout).toContain('Nothing was written');
  });

  it('exits non-zero when the conversion would fail', async () => {
    const tooSmall = path.join(base, 'small.yaml');
    fs.writeFileSync(tooSmall, 'storage:\n  total_size_mb: 64\n');
    const result = await runCli(['plan', '--disk-image', golden, '--config', tooSmall, '-n', 'plan-1', '--output-dir', path.join(base, 'p2'), '--work-dir', path.join(base, 'work6')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/storage is too small/);
  });
});
