import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool, type GoldenOptions } from '../../helpers/images.js';
import { sameBytes } from '../disk/images.js';

const MiB = 1024 * 1024;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-test-'));
fs.chmodSync(base, 0o777);

const SMALL = `storage:
  total_size_mb: 160
  alignment: 4194304
data:
  size_mb: 16
`;

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

interface Converted {
  dir: string;
  deploy: string;
  image: string;
  inputSha: string;
  input: string;
  stdout: string;
  table: SfdiskTable;
  inputTable: SfdiskTable;
}

interface SfdiskTable {
  label: string;
  id: string;
  partitions: { node: string; start: number; size: number; type: string; uuid?: string; bootable?: boolean }[];
}

async function convertGolden(name: string, golden: Partial<GoldenOptions>, extraArgs: string[] = [], config = SMALL, compress?: (image: string) => Promise<string>): Promise<Converted> {
  const dir = path.join(base, name);
  const built = await buildGoldenImage({ dir, name: `${name}.img`, ...golden });
  const inputTable = JSON.parse((await tool('sfdisk', ['--json', built.image])).stdout).partitiontable;
  const input = compress ? await compress(built.image) : built.image;
  const inputSha = sha256(input);
  const inputMtime = fs.statSync(input).mtimeMs;
  const configFile = path.join(dir, 'small.yaml');
  fs.writeFileSync(configFile, config);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--disk-image', input, '--config', configFile, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work'), ...extraArgs]);
  expect(result.exitCode, result.all).toBe(0);
  const image = fs.readdirSync(deploy).filter((f) => /\.img(\.(gz|xz|zst))?$/.test(f)).map((f) => path.join(deploy, f))[0]!;
  let rawImage = image;
  if (!image.endsWith('.img')) {
    rawImage = path.join(dir, 'decompressed.img');
    const decompressor = image.endsWith('.gz') ? ['gzip', '-dc'] : image.endsWith('.xz') ? ['xz', '-dc'] : ['zstd', '-dcq'];
    await tool('sh', ['-c', `${decompressor.join(' ')} "$1" > "$2"`, 'sh', image, rawImage]);
  }
  const table = JSON.parse((await tool('sfdisk', ['--json', rawImage])).stdout).partitiontable;
  expect(fs.statSync(input).mtimeMs).toBe(inputMtime);
  return { dir, deploy, image: rawImage, inputSha, input, stdout: result.all ?? '', table, inputTable };
}

async function partitionFile(converted: Converted, number: number): Promise<string> {
  const part = converted.table.partitions[number - 1]!;
  const file = path.join(converted.dir, `part${number}.bin`);
  await tool('dd', [`if=${converted.image}`, `of=${file}`, 'bs=512', `skip=${part.start}`, `count=${part.size}`, 'conv=sparse', 'status=none']);
  return file;
}

async function debugfs(file: string, command: string): Promise<string> {
  return (await tool('debugfs', ['-R', command, file])).stdout;
}

describe('conversion of an MBR image', () => {
  let c: Converted;
  beforeAll(async () => {
    c = await convertGolden('mbr', {});
  });

  it('writes the contract layout: 4 MiB alignment, GRUB start at 1 × alignment, contiguous partitions', () => {
    expect(c.table.label).toBe('dos');
    const parts = c.table.partitions.map((p) => ({ start: (p.start * 512) / MiB, size: (p.size * 512) / MiB, type: p.type }));
    // boot 40 MiB at 4; (160 - 40 - 16 - 16) / 2 = 44 MiB per rootfs; data 16 MiB
    expect(parts).toEqual([
      { start: 4, size: 40, type: 'c' },
      { start: 44, size: 44, type: '83' },
      { start: 88, size: 44, type: '83' },
      { start: 132, size: 16, type: '83' },
    ]);
    expect(c.table.partitions[0]!.bootable).toBe(true);
    expect(fs.statSync(c.image).size).toBe(160 * MiB);
    // sparse: far fewer blocks allocated than the apparent size
    expect(fs.statSync(c.image).blocks * 512).toBeLessThan(60 * MiB);
  });

  it('leaves the input unchanged', () => {
    expect(sha256(c.input)).toBe(c.inputSha);
  });

  it('rewrites fstab with boot, root and data and keeps other lines', async () => {
    const rootfs = await partitionFile(c, 2);
    const fstab = await debugfs(rootfs, 'cat /etc/fstab');
    const rows = fstab.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.split(/\s+/));
    expect(rows).toContainEqual(['/dev/mmcblk0p1', '/boot/firmware', 'auto', 'defaults,sync', '0', '0']);
    expect(rows).toContainEqual(['/dev/root', '/', 'auto', 'defaults', '1', '1']);
    expect(rows).toContainEqual(['/dev/mmcblk0p4', '/data', 'auto', 'defaults,x-systemd.growfs', '0', '0']);
    expect(rows).toContainEqual(['proc', '/proc', 'proc', 'defaults', '0', '0']);
    expect(rows.filter((r) => r[1] === '/')).toHaveLength(1);
  });

  it('puts the Mender links, state-script version and units in the root filesystem', async () => {
    const rootfs = await partitionFile(c, 2);
    for (const dir of ['mender', 'mender-configure', 'mender-monitor', 'mender-orchestrator']) {
      expect(await debugfs(rootfs, `stat /var/lib/${dir}`)).toMatch(new RegExp(`Type: symlink[\\s\\S]*Fast link dest: "/data/${dir}"`));
    }
    expect(await debugfs(rootfs, 'cat /etc/mender/scripts/version')).toBe('3');
    expect(await debugfs(rootfs, 'cat /etc/mender/artifact_info')).toBe('artifact_name=release-1\n');
    expect(await debugfs(rootfs, 'stat /data')).toMatch(/Type: directory/);
    expect(await debugfs(rootfs, 'cat /lib/systemd/system/mender-data-dir.service')).toContain('/data/mender');
    expect(await debugfs(rootfs, 'cat /etc/systemd/system/mender-grow-data.service')).toContain('Before=data.mount');
  });

  it('builds a data partition with mender.conf, device_type and the bootstrap Artifact, owned by root', async () => {
    const data = await partitionFile(c, 4);
    expect(JSON.parse(await debugfs(data, 'cat /mender/mender.conf'))).toEqual({ RootfsPartA: '/dev/mmcblk0p2', RootfsPartB: '/dev/mmcblk0p3' });
    expect(await debugfs(data, 'stat /mender/mender.conf')).toMatch(/Mode:\s+0600[\s\S]*User:\s+0\s+Group:\s+0/);
    expect(await debugfs(data, 'cat /mender/device_type')).toBe('device_type=testhost\n');
    expect(await debugfs(data, 'stat /mender/device_type')).toMatch(/Mode:\s+0444/);
    for (const dir of ['mender-configure', 'mender-monitor', 'mender-orchestrator']) {
      expect(await debugfs(data, `stat /${dir}`)).toMatch(/Type: directory/);
    }
    const bootstrap = path.join(c.dir, 'bootstrap.mender');
    await tool('debugfs', ['-R', `dump /mender/bootstrap.mender ${bootstrap}`, data]);
    const read = (await tool('mender-artifact', ['read', bootstrap])).stdout;
    expect(read).toContain('Name: release-1');
    expect(read).toMatch(/rootfs-image\.checksum: [0-9a-f]{64}/);
  });

  it('root and data filesystems are clean under e2fsck -fn', async () => {
    for (const number of [2, 3, 4]) {
      const file = await partitionFile(c, number);
      const result = await tool('e2fsck', ['-fn', file]);
      expect(result.exitCode).toBe(0);
    }
  });

  it('keeps the boot partition content', async () => {
    const boot = await partitionFile(c, 1);
    expect((await tool('mtype', ['-i', boot, '::/config.txt'])).stdout).toBe('arm_64bit=1\n');
    expect((await tool('mtype', ['-i', boot, '::/overlays/README'])).stdout).toBe('overlays\n');
  });

  it('writes the rootfs filesystem, the Artifact and the tests config next to the image', async () => {
    const names = fs.readdirSync(c.deploy).sort();
    expect(names).toEqual(['mbr-testhost-mender.cdx.json', 'mbr-testhost-mender.cfg', 'mbr-testhost-mender.ext4', 'mbr-testhost-mender.img', 'mbr-testhost-mender.json', 'mbr-testhost-mender.mender', 'mbr-testhost-mender.spdx.json']);
    const cfg = fs.readFileSync(path.join(c.deploy, 'mbr-testhost-mender.cfg'), 'utf8');
    expect(cfg).toContain('MENDER_ROOTFS_PART_A="/dev/mmcblk0p2"');
    expect(cfg).toContain('MENDER_PARTITIONING_OVERHEAD_KB="16384"');
    expect(cfg).toContain('MENDER_FEATURES="mender-convert mender-grub"');
    expect(cfg).toContain('MENDER_BOOT_PART_MOUNT_LOCATION="/boot/firmware"');
    // partition 2 starts with exactly the rootfs filesystem image
    const ext4 = path.join(c.deploy, 'mbr-testhost-mender.ext4');
    const rootfs = await partitionFile(c, 2);
    const size = fs.statSync(ext4).size;
    const head = fs.readFileSync(rootfs).subarray(0, size);
    expect(createHash('sha256').update(head).digest('hex')).toBe(sha256(ext4));
  });
});

describe('other input shapes', () => {
  it("converts a GPT image; its boot partition's PARTUUID is the fleet's, not the input's", async () => {
    const c = await convertGolden('gpt', { scheme: 'gpt' });
    expect(c.table.label).toBe('gpt');
    expect(c.table.partitions[0]!.type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(c.table.partitions[0]!.uuid).not.toBe(c.inputTable.partitions[0]!.uuid);
  });

  it('converts partitions numbered out of disk order', async () => {
    const c = await convertGolden('swapped', { swapNumbers: true });
    const boot = await partitionFile(c, 1);
    expect((await tool('mtype', ['-i', boot, '::/config.txt'])).stdout).toBe('arm_64bit=1\n');
    expect(await debugfs(await partitionFile(c, 2), 'cat /etc/hostname')).toBe('testhost\n');
  });

  it('creates a boot partition for a root-only image', async () => {
    const c = await convertGolden('rootonly', { rootOnly: true });
    expect(c.table.partitions).toHaveLength(4);
    expect((await tool('minfo', ['-i', await partitionFile(c, 1)])).exitCode).toBe(0);
    expect(c.stdout).toContain('no boot partition');
  });

  it.each([
    ['xz', ['xz', '-T0', '-k'], '.xz'],
    ['gzip', ['gzip', '-k'], '.gz'],
    ['zstd', ['zstd', '-q'], '.zst'],
  ])('reads a %s-compressed input and compresses the output the same way', async (name, command, suffix) => {
    const c = await convertGolden(`compressed-${name}`, {}, [], SMALL, async (image) => {
      await tool(command[0]!, [...command.slice(1), image]);
      return `${image}${suffix}`;
    });
    expect(fs.readdirSync(c.deploy).some((f) => f.endsWith(`.img${suffix}`))).toBe(true);
    expect(c.table.partitions).toHaveLength(4);
    // The compression read rootfs A from the root filesystem file: both partitions hold it, then zeros.
    const rootfs = path.join(c.deploy, fs.readdirSync(c.deploy).find((f) => f.endsWith('.ext4'))!);
    const rootfsBytes = fs.statSync(rootfs).size;
    for (const number of [2, 3]) {
      const partition = await partitionFile(c, number);
      expect(await sameBytes(partition, rootfs, rootfsBytes), `partition ${number} holds the root filesystem`).toBe(true);
      expect(await sameBytes(partition, '/dev/zero', fs.statSync(partition).size - rootfsBytes, rootfsBytes, 0), `partition ${number} is zeros after it`).toBe(true);
    }
  });

  it('reads a .zip with one image inside', async () => {
    const c = await convertGolden('zipped', {}, [], `${SMALL}image:\n  compression: none\n`, async (image) => {
      const zip = `${image}.zip`;
      await tool('zip', ['-j', '-q', zip, image]);
      return zip;
    });
    expect(c.table.partitions).toHaveLength(4);
  });
});

describe('as an ordinary user', () => {
  it.runIf(process.getuid?.() === 0)('converts under an unprivileged uid without sudo, mounts or loop devices', async () => {
    const dir = path.join(base, 'nobody');
    const golden = await buildGoldenImage({ dir });
    const configFile = path.join(dir, 'small.yaml');
    fs.writeFileSync(configFile, SMALL);
    await tool('chmod', ['-R', 'a+rwX', dir]);
    const { execa } = await import('execa');
    const result = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', path.resolve('bin/mender-convert.js'),
      '--disk-image', golden.image, '--config', configFile, '--artifact-name', 'release-1',
      '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')], { reject: false, all: true, env: { CI: 'true', PATH: '/usr/bin:/bin', HOME: dir, MENDER_CLIENT_INSTALL: 'n' } });
    expect(result.exitCode, result.all).toBe(0);
    const image = path.join(dir, 'deploy', 'golden-testhost-mender.img');
    expect(fs.statSync(image).uid).toBe(65534);
  });
});

describe('layout options', () => {
  it("PARTUUID mode (MBR) names partitions by the fleet's disk identifier everywhere, the same for a rebuilt golden image", async () => {
    const config = SMALL.replace('storage:\n', 'storage:\n  partuuid: true\n');
    const first = await convertGolden('partuuid-dos', {}, [], config);
    const rebuilt = await convertGolden('partuuid-dos-rebuilt', { diskId: '0badf00d' }, ['--artifact-name', 'release-2'], config);
    const id = first.table.id;
    expect(id).toMatch(/^0x[0-9a-f]{8}$/);
    expect(id).not.toBe('0xc0ffee01');
    expect(rebuilt.table.id).toBe(id);
    const diskId = id.slice(2);
    for (const c of [first, rebuilt]) {
      const fstab = await debugfs(await partitionFile(c, 2), 'cat /etc/fstab');
      expect(fstab).toContain(`/dev/disk/by-partuuid/${diskId}-01\t/boot/firmware`);
      expect(fstab).toContain(`/dev/disk/by-partuuid/${diskId}-04\t/data`);
    }
    const data = await partitionFile(first, 4);
    expect(JSON.parse(await debugfs(data, 'cat /mender/mender.conf'))).toEqual({
      RootfsPartA: `/dev/disk/by-partuuid/${diskId}-02`,
      RootfsPartB: `/dev/disk/by-partuuid/${diskId}-03`,
    });
    expect(first.stdout).toContain(`disk identifier ${id} (derived from the device types)`);
  });

  it('PARTUUID mode (GPT) writes the fleet\'s GUIDs, not the golden image\'s, and the same ones for every release; pins win', async () => {
    const config = SMALL.replace('storage:\n', 'storage:\n  partuuid: true\n');
    const first = await convertGolden('partuuid-gpt', { scheme: 'gpt' }, [], config);
    const rebuilt = await convertGolden('partuuid-gpt-rebuilt', { scheme: 'gpt' }, ['--artifact-name', 'release-2'], config);
    const uuids = first.table.partitions.map((p) => p.uuid!.toLowerCase());
    expect(new Set(uuids).size).toBe(4);
    expect(rebuilt.inputTable.partitions[0]!.uuid).not.toBe(first.inputTable.partitions[0]!.uuid);
    expect(uuids).not.toContain(first.inputTable.partitions[0]!.uuid!.toLowerCase());
    expect(rebuilt.table.partitions.map((p) => p.uuid!.toLowerCase())).toEqual(uuids);
    expect(rebuilt.table.id).toBe(first.table.id);
    const data = await partitionFile(first, 4);
    expect(JSON.parse(await debugfs(data, 'cat /mender/mender.conf'))).toEqual({
      RootfsPartA: `/dev/disk/by-partuuid/${uuids[1]}`,
      RootfsPartB: `/dev/disk/by-partuuid/${uuids[2]}`,
    });
    const fstab = await debugfs(await partitionFile(rebuilt, 2), 'cat /etc/fstab');
    expect(fstab).toContain(`/dev/disk/by-partuuid/${uuids[3]}\t/data`);
    const results = JSON.parse(fs.readFileSync(path.join(first.deploy, fs.readdirSync(first.deploy).find((f) => f.endsWith('-mender.json'))!), 'utf8'));
    expect(results.layout.diskId).toBe(first.table.id.toLowerCase());
    expect(results.layout.partitions.map((p: { partuuid: string }) => p.partuuid)).toEqual(uuids);

    const pinnedData = 'da7a0000-1111-4222-8333-444455556666';
    const pinned = await convertGolden('partuuid-gpt-pinned', { scheme: 'gpt' }, [], config.replace('storage:\n', `storage:\n  disk_id: 0B0B0B0B-1111-4222-8333-444455556666\n  data_part: /dev/disk/by-partuuid/${pinnedData}\n`));
    expect(pinned.table.id.toLowerCase()).toBe('0b0b0b0b-1111-4222-8333-444455556666');
    expect(pinned.table.partitions.map((p) => p.uuid!.toLowerCase())).toEqual([...uuids.slice(0, 3), pinnedData]);
    expect(await debugfs(await partitionFile(pinned, 2), 'cat /etc/fstab')).toContain(`/dev/disk/by-partuuid/${pinnedData}\t/data`);
    expect(pinned.stdout).toContain('pinned by storage.disk_id, storage.data_part; the rest from the device types');
  });

  it('forces a GPT table on an MBR input when asked', async () => {
    const c = await convertGolden('force-gpt', {}, [], SMALL.replace('storage:\n', 'storage:\n  partition_scheme: gpt\n'));
    expect(c.table.label).toBe('gpt');
    expect(c.table.partitions.map((p) => p.type)).toEqual([
      'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
      '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
      '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
      '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
    ]);
  });

  it('copies the boot gap to the same offset, and refuses one that would overlap', async () => {
    const loader = Buffer.from('A BOARD LOADER LIVES HERE');
    const withGap = async (image: string) => {
      const handle = fs.openSync(image, 'r+');
      fs.writeSync(handle, loader, 0, loader.length, 2 * MiB);
      fs.closeSync(handle);
      return image;
    };
    const c = await convertGolden('bootgap', {}, [], SMALL, withGap);
    const handle = fs.openSync(c.image, 'r');
    const copied = Buffer.alloc(loader.length);
    fs.readSync(handle, copied, 0, loader.length, 2 * MiB);
    fs.closeSync(handle);
    expect(copied.toString()).toBe(loader.toString());

    const dir = path.join(base, 'bootgap-overlap');
    const built = await buildGoldenImage({ dir });
    await withGap(built.image);
    const config = path.join(dir, 'c.yaml');
    fs.writeFileSync(config, 'storage:\n  total_size_mb: 160\n  alignment: 1048576\ndata:\n  size_mb: 16\n');
    const result = await runCli(['--disk-image', built.image, '--config', config, '-n', 'r1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/boot gap .* would overlap the first partition/);
  });

  it('writes a block map that bmaptool copy flashes back into the same image', async () => {
    const c = await convertGolden('bmap', {}, [], `${SMALL}image:\n  bmap: true\n  compression: none\n`);
    const bmap = fs.readdirSync(c.deploy).find((f) => f.endsWith('.bmap'))!;
    const target = path.join(c.dir, 'flashed.img');
    await tool('bmaptool', ['copy', '--bmap', path.join(c.deploy, bmap), c.image, target]);
    expect(sha256(target)).toBe(sha256(c.image));
  });

  it('moves /data content out of the root filesystem into the data partition', async () => {
    const c = await convertGolden('datamove', { files: { 'data/app/config.json': '{"a":1}\n' } });
    const data = await partitionFile(c, 4);
    expect(await debugfs(data, 'cat /app/config.json')).toBe('{"a":1}\n');
    const rootfs = await partitionFile(c, 2);
    expect((await debugfs(rootfs, 'ls /data')).trim().split(/\s+/).filter((n) => !/^\d|^\(/.test(n))).toEqual(['.', '..']);
  });
});

describe('Artifact options', () => {
  it('signs the Artifact with the configured key and honours its compression', async () => {
    const dir = path.join(base, 'signed-keys');
    fs.mkdirSync(dir, { recursive: true });
    const key = path.join(dir, 'signing.pem');
    await tool('openssl', ['genrsa', '-traditional', '-out', key, '3072']);
    await tool('openssl', ['rsa', '-in', key, '-pubout', '-out', `${key}.pub`]);
    const c = await convertGolden('signed', {}, [], `${SMALL}artifact:\n  compression: xz\n  signing_key: ${key}\n`);
    const artifact = path.join(c.deploy, fs.readdirSync(c.deploy).find((f) => f.endsWith('.mender'))!);
    expect((await tool('mender-artifact', ['validate', '-k', `${key}.pub`, artifact])).exitCode).toBe(0);
    expect((await tool('tar', ['tf', artifact])).stdout).toContain('data/0000.tar.xz');
  });
});

describe('config --print', () => {
  it('shows each effective value with its origin', async () => {
    const dir = path.join(base, 'print');
    fs.mkdirSync(dir, { recursive: true });
    const config = path.join(dir, 'c.yaml');
    fs.writeFileSync(config, 'storage:\n  total_size_mb: 4096\n');
    const result = await runCli(['config', '--print', '--config', config], { env: { MENDER_DEVICE_TYPE: 'pi4' } });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^storage\\.total_size_mb: 4096\\s+# ${config}:2$`, 'm'));
    expect(result.stdout).toMatch(/^device\.types: \[pi4\]\s+# environment MENDER_DEVICE_TYPE$/m);
  });
});

describe('GRUB (UEFI) integration', () => {
  it('installs the EFI loader, grub.cfg, the two-copy environment, the kernel links and the device tools', async () => {
    const c = await convertGolden('grub', {});
    const boot = await partitionFile(c, 1);
    const loader = path.join(c.dir, 'BOOTX64.EFI');
    await tool('mcopy', ['-n', '-i', boot, '::/EFI/BOOT/BOOTX64.EFI', loader]);
    expect((await tool('file', ['-b', loader])).stdout).toMatch(/PE32\+ executable.*x86-64/);
    const cfg = path.join(c.dir, 'grub.cfg');
    await tool('mcopy', ['-n', '-i', boot, '::/EFI/BOOT/grub.cfg', cfg]);
    expect((await tool('grub-script-check', [cfg])).exitCode).toBe(0);
    expect(fs.readFileSync(cfg, 'utf8')).toContain('/dev/mmcblk0p2');
    for (const copy of ['mender_grubenv1', 'mender_grubenv2']) {
      const env = path.join(c.dir, `${copy}.env`);
      await tool('mcopy', ['-n', '-i', boot, `::/grub-mender-grubenv/${copy}/env`, env]);
      const values = (await tool('grub-editenv', [env, 'list'])).stdout;
      expect(values).toContain('mender_boot_part=2\n');
      expect(values).toContain('upgrade_available=0\n');
      expect(values).toContain('bootcount=0\n');
    }
    const rootfs = await partitionFile(c, 2);
    // Through the links Debian's kernel packages move to the newest kernel on the device.
    expect(await debugfs(rootfs, 'stat /boot/kernel')).toContain('Fast link dest: "../vmlinuz"');
    expect(await debugfs(rootfs, 'stat /vmlinuz')).toContain('Fast link dest: "boot/vmlinuz-6.1.0-test"');
    expect(await debugfs(rootfs, 'stat /boot/initrd')).toContain('Fast link dest: "../initrd.img"');
    expect(await debugfs(rootfs, 'stat /initrd.img')).toContain('Fast link dest: "boot/initrd.img-6.1.0-test"');
    expect(await debugfs(rootfs, 'stat /usr/bin/grub-mender-grubenv-set')).toMatch(/Mode:\s+0755/);
    const inspect = JSON.parse(String((await runCli(['inspect', '--json', c.image])).stdout));
    expect(inspect.mender.bootEnvironment).toMatchObject({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' });
    // What grub-mender-grubenv (the GRUB of PCs converted by upstream mender-convert) reads and
    // its tools write: /boot/kernel and /boot/initrd of the active root filesystem; env and lock
    // of both copies under the boot partition's /grub-mender-grubenv, which the tools in the
    // root filesystem reach through the boot partition's mount point (/boot/efi on a PC image, as
    // upstream's tools have it; this golden image mounts it at /boot/firmware).
    for (const copy of ['mender_grubenv1', 'mender_grubenv2']) {
      for (const file of ['env', 'lock']) expect((await tool('mdir', ['-b', '-i', boot, `::/grub-mender-grubenv/${copy}/${file}`])).exitCode).toBe(0);
    }
    const bootMount = (await debugfs(rootfs, 'cat /etc/fstab')).split('\n')[1]!.split('\t')[1];
    expect(bootMount).toBe('/boot/firmware');
    expect(await debugfs(rootfs, 'cat /usr/bin/grub-mender-grubenv-print')).toContain(`${bootMount}/grub-mender-grubenv`);
    expect(inspect.mender.bootChain).toMatchObject({ kind: 'grub-mender-grubenv', reads: ['/boot/kernel', '/boot/initrd'] });
    expect(inspect.mender.bootChain.include).toBeUndefined();
    // A boot partition with grub-mender-grubenv's own grub.cfg (a PC converted upstream) asks for the include.
    const upstreamLike = path.join(c.dir, 'upstream-like.img');
    fs.copyFileSync(c.image, upstreamLike);
    fs.writeFileSync(path.join(c.dir, 'upstream-grub.cfg'), 'load_env --file ${root}/grub-mender-grubenv/mender_grubenv1/env\n');
    await tool('mcopy', ['-o', '-i', `${upstreamLike}@@${c.table.partitions[0]!.start * 512}`, path.join(c.dir, 'upstream-grub.cfg'), '::/EFI/BOOT/grub.cfg']);
    const upstream = JSON.parse(String((await runCli(['inspect', '--json', upstreamLike])).stdout));
    expect(upstream.mender.bootChain).toMatchObject({ kind: 'grub-mender-grubenv', include: 'configs/include/upstream-converted-pc.yaml' });
    // With it, the root filesystem's tools reach the environment where upstream mounts the boot partition.
    const withInclude = await convertGolden('grub-upstream-pc', {}, ['-c', path.resolve('configs/include/upstream-converted-pc.yaml')]);
    const rootfsForUpstream = await partitionFile(withInclude, 2);
    expect(await debugfs(rootfsForUpstream, 'cat /usr/bin/grub-mender-grubenv-print')).toContain('/boot/efi/grub-mender-grubenv');
    expect(await debugfs(rootfsForUpstream, 'stat /boot/kernel')).toContain('Fast link dest: "../vmlinuz"');
  });

  it('on arm64, builds BOOTAA64.EFI and copies the kernel\'s device trees to /dtb', async () => {
    const c = await convertGolden('grub-arm64', {
      arch: 'arm64',
      files: {
        'boot/vmlinuz-6.1.0-test': 'not a real arm64 kernel\n',
        'usr/lib/linux-image-6.1.0-test/broadcom/bcm2711-rpi-4-b.dtb': 'device tree one\n',
        'usr/lib/linux-image-6.1.0-test/rockchip/rk3399-rockpro64.dtb': 'device tree two\n',
        'usr/lib/linux-image-6.1.0-test/rockchip/README': 'not a device tree\n',
      },
    });
    const boot = await partitionFile(c, 1);
    const loader = path.join(c.dir, 'BOOTAA64.EFI');
    await tool('mcopy', ['-n', '-i', boot, '::/EFI/BOOT/BOOTAA64.EFI', loader]);
    expect((await tool('file', ['-b', loader])).stdout).toMatch(/PE32\+ executable.*Aarch64/i);
    const dtb = path.join(c.dir, 'rk3399.dtb');
    await tool('mcopy', ['-n', '-i', boot, '::/dtb/rockchip/rk3399-rockpro64.dtb', dtb]);
    expect(fs.readFileSync(dtb, 'utf8')).toBe('device tree two\n');
    const listing = (await tool('mdir', ['-b', '-/', '-i', boot, '::/dtb'])).stdout;
    expect(listing).toContain('bcm2711-rpi-4-b.dtb');
    expect(listing).not.toContain('README');
  });

  it("removes the distribution's EFI loaders unless bootloader.keep_distro_loader is set", async () => {
    const bootFiles = { 'EFI/debian/grubx64.efi': 'distro grub\n', 'EFI/BOOT/fbx64.efi': 'fallback\n', 'loader/loader.conf': 'systemd-boot\n' };
    const removed = await convertGolden('grub-distro-loader', { bootFiles });
    const listing = (await tool('mdir', ['-b', '-/', '-i', await partitionFile(removed, 1), '::/'])).stdout;
    expect(listing).not.toMatch(/EFI\/debian/i);
    expect(listing).not.toMatch(/loader\.conf/);
    expect(listing).toMatch(/EFI\/BOOT\/fbx64\.efi/i);
    expect(removed.stdout).toContain('bootloader.keep_distro_loader');
    const kept = await convertGolden('grub-distro-loader-kept', { bootFiles }, [], `${SMALL}bootloader:\n  keep_distro_loader: true\n`);
    const keptListing = (await tool('mdir', ['-b', '-/', '-i', await partitionFile(kept, 1), '::/'])).stdout;
    expect(keptListing).toMatch(/EFI\/debian\/grubx64\.efi/i);
    expect(keptListing).not.toMatch(/loader\.conf/);
  });
});
