import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ext4Editor } from '../../../src/fs/ext4.js';
import { FatEditor } from '../../../src/fs/fat.js';
import { makeExt4 } from '../../../src/fs/ext4-tools.js';
import { makeFat } from '../../../src/fs/fat.js';
import { probeFilesystem } from '../../../src/fs/identify.js';
import { tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'editors-'));
const MiB = 1024 * 1024;
let counter = 0;

/** A small ext4 image with a Debian-like merged /usr and a few traps. */
async function ext4Image(): Promise<string> {
  const dir = path.join(base, `tree-${counter}`);
  fs.mkdirSync(path.join(dir, 'usr/lib/systemd/system'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.symlinkSync('usr/lib', path.join(dir, 'lib'));
  fs.symlinkSync('/', path.join(dir, 'etc/rootlink'));
  fs.symlinkSync('../../../../../../tmp', path.join(dir, 'etc/escape'));
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'box\n');
  fs.symlinkSync('../usr/lib/os-release', path.join(dir, 'etc/os-release'));
  fs.writeFileSync(path.join(dir, 'usr/lib/os-release'), 'ID=debian\n');
  const image = path.join(base, `fs-${counter++}.ext4`);
  await makeExt4(image, 16 * MiB, { fromDir: dir });
  return image;
}

async function debugfs(image: string, command: string): Promise<string> {
  return (await tool('debugfs', ['-R', command, image])).stdout;
}

async function fsckClean(image: string): Promise<void> {
  const result = await tool('e2fsck', ['-fn', image]).catch((error) => error);
  expect(result.exitCode, String(result.stdout)).toBe(0);
}

describe('Ext4Editor', () => {
  it('reads files through symlinks resolved inside the image', async () => {
    const editor = await Ext4Editor.open(await ext4Image());
    expect(await editor.readText('/etc/os-release')).toBe('ID=debian\n');
    expect(await editor.readText('/etc/rootlink/etc/hostname')).toBe('box\n');
    expect(await editor.exists('/lib/os-release')).toBe(true);
    expect((await editor.stat('/lib'))?.target).toBe('usr/lib');
    expect((await editor.stat('/nope'))).toBeNull();
  });

  it('writes with modes, owners and times; mkdir -p and symlinks go through symlinked parents', async () => {
    const image = await ext4Image();
    const editor = await Ext4Editor.open(image, { clock: () => 1700000000 });
    await editor.mkdir('/lib/systemd/system/multi-user.target.wants');
    await editor.writeFile('/lib/systemd/system/x.service', '[Unit]\n', { mode: 0o640, uid: 12, gid: 34 });
    await editor.symlink('/lib/systemd/system/multi-user.target.wants/x.service', '/lib/systemd/system/x.service');
    await editor.mkdir('/a/b/c d', { mode: 0o700 });
    await editor.writeFile('/a/b/c d/with space.txt', 'spaced');
    await editor.flush();
    expect(await debugfs(image, 'stat /usr/lib/systemd/system/x.service')).toMatch(/Mode:\s+0640[\s\S]*User:\s+12\s+Group:\s+34[\s\S]*mtime: 0x6553f100/);
    expect(await debugfs(image, 'stat /usr/lib/systemd/system/multi-user.target.wants/x.service')).toContain('Fast link dest: "/lib/systemd/system/x.service"');
    expect(await debugfs(image, 'stat "/a/b/c d"')).toMatch(/Type: directory\s+Mode:\s+0700/);
    expect(await debugfs(image, 'cat "/a/b/c d/with space.txt"')).toBe('spaced');
    await fsckClean(image);
  });

  it('never writes outside the image: absolute and climbing symlinks stay inside it', async () => {
    const image = await ext4Image();
    const editor = await Ext4Editor.open(image);
    const hostMarker = path.join('/tmp', `escape-${process.pid}`);
    await editor.writeFile('/etc/escape/escape-' + process.pid, 'inside');
    await editor.writeFile('/etc/rootlink/etc/through-root', 'inside too');
    await editor.flush();
    expect(fs.existsSync(hostMarker)).toBe(false);
    expect(await debugfs(image, `cat /tmp/escape-${process.pid}`)).toBe('inside');
    expect(await debugfs(image, 'cat /etc/through-root')).toBe('inside too');
    expect(await editor.readText('/../../etc/hostname')).toBe('box\n');
    await fsckClean(image);
  });

  it('removes files, symlinks and whole trees, and replaces files', async () => {
    const image = await ext4Image();
    const editor = await Ext4Editor.open(image);
    await editor.mkdir('/data/x/y');
    await editor.writeFile('/data/x/y/f', '1');
    await editor.writeFile('/etc/hostname', 'replaced\n');
    await editor.remove('/data', { recursive: true });
    await editor.remove('/etc/escape');
    await editor.remove('/does/not/exist');
    await editor.flush();
    expect(await editor.exists('/data')).toBe(false);
    expect(await editor.exists('/etc/escape')).toBe(false);
    expect(await editor.readText('/etc/hostname')).toBe('replaced\n');
    await expect(editor.remove('/usr/lib', { recursive: false })).rejects.toThrow(/not empty/);
    await fsckClean(image);
  });

  it('copies a host tree in one batch, keeping modes and links, owned by root', async () => {
    const image = await ext4Image();
    const overlay = path.join(base, 'overlay');
    fs.mkdirSync(path.join(overlay, 'etc/systemd/system'), { recursive: true });
    fs.mkdirSync(path.join(overlay, 'lib/extra'), { recursive: true });
    fs.writeFileSync(path.join(overlay, 'etc/motd'), 'hello\n');
    fs.writeFileSync(path.join(overlay, 'lib/extra/run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    fs.symlinkSync('/etc/motd', path.join(overlay, 'etc/motd.link'));
    const editor = await Ext4Editor.open(image);
    await editor.copyIn(overlay, '/');
    expect(await debugfs(image, 'cat /etc/motd')).toBe('hello\n');
    expect(await debugfs(image, 'stat /usr/lib/extra/run.sh')).toMatch(/Mode:\s+0755[\s\S]*User:\s+0\s+Group:\s+0/);
    expect(await debugfs(image, 'stat /etc/motd.link')).toContain('Fast link dest: "/etc/motd"');
    expect((await debugfs(image, 'stat /lib')).includes('Type: symlink')).toBe(true);
    await fsckClean(image);
  });

  it('lists directories with types, modes and symlink targets', async () => {
    const editor = await Ext4Editor.open(await ext4Image());
    const entries = await editor.list('/etc');
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['escape', 'symlink'],
      ['hostname', 'file'],
      ['os-release', 'symlink'],
      ['rootlink', 'symlink'],
    ]);
    expect(entries[2]!.target).toBe('../usr/lib/os-release');
  });

  it('lists a directory as it is: a deleted entry starting a block is no file, a name may hold a newline', async () => {
    const image = path.join(base, `listing-${counter++}.ext4`);
    // 1 KiB blocks: '.', '..', 61 entries of 16 bytes and the block's checksum tail fill the directory's first block, so
    // fstab, written next, starts the second. An early entry is unlinked (its space joins its
    // neighbour's), then fstab is unlinked (the first entry of a block keeps its name, inode 0)
    // and written again: the new entry takes the early hole, before the deleted one — what a
    // package upgrade's rename leaves behind.
    await tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '1024', image, '4M']);
    const hostFile = path.join(base, 'content');
    fs.writeFileSync(hostFile, 'proc /proc proc defaults 0 0\n');
    const fillers = Array.from({ length: 61 }, (_, i) => `file-${String(i).padStart(3, '0')}`);
    const commands = ['mkdir /etc', ...fillers.map((name) => `write ${hostFile} /etc/${name}`), `write ${hostFile} /etc/fstab`,
      'unlink /etc/file-010', 'unlink /etc/fstab', `write ${hostFile} /etc/fstab`];
    const script = path.join(base, 'commands');
    fs.writeFileSync(script, `${commands.join('\n')}\n`);
    await tool('debugfs', ['-w', '-f', script, image]);
    const raw = await debugfs(image, 'ls -p /etc');
    expect(raw).toMatch(/^\/0\/000000\/0\/0\/fstab\/0\/$/m);
    expect(raw.indexOf('/fstab/')).toBeLessThan(raw.indexOf('/0/000000/0/0/fstab/'));

    const editor = await Ext4Editor.open(image);
    expect((await editor.stat('/etc/fstab'))?.type).toBe('file');
    expect(await editor.readText('/etc/fstab')).toBe('proc /proc proc defaults 0 0\n');
    const names = (await editor.list('/etc')).map((entry) => entry.name);
    expect(names.filter((name) => name === 'fstab')).toHaveLength(1);
    expect(names).not.toContain('file-010');
    expect(names).toHaveLength(61);

    const tree = path.join(base, `newline-tree-${counter}`);
    fs.mkdirSync(path.join(tree, 'data'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'data', 'two\nlines'), 'kept\n');
    fs.writeFileSync(path.join(tree, 'data', 'plain'), 'plain\n');
    const withNewline = path.join(base, `newline-${counter++}.ext4`);
    await makeExt4(withNewline, 4 * MiB, { fromDir: tree });
    const listed = (await (await Ext4Editor.open(withNewline)).list('/data')).map((entry) => entry.name).sort();
    expect(listed).toEqual(['plain', 'two\nlines']);
  });

  it('turns a failing debugfs command into an error naming it', async () => {
    const image = await ext4Image();
    const editor = await Ext4Editor.open(image);
    const big = path.join(base, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(24 * MiB, 1));
    const overlay = path.join(base, 'big-overlay');
    fs.mkdirSync(overlay, { recursive: true });
    fs.copyFileSync(big, path.join(overlay, 'too-big.bin'));
    // debugfs exits 0 when it runs out of space; the editor must not.
    await expect(editor.copyIn(overlay, '/')).rejects.toThrow(/Editing fs-\d+\.ext4 failed: .*(space|allocate|blocks)/i);
    await expect(editor.readFile('/etc')).rejects.toThrow(/not a regular file/);
    await expect(editor.readFile('/missing')).rejects.toThrow(/does not exist/);
  });
});

describe('FatEditor', () => {
  it('reads, writes, lists and removes on a FAT image, case-insensitively', async () => {
    const image = path.join(base, 'boot.vfat');
    await makeFat(image, 32 * MiB, { label: 'boot' });
    const editor = await FatEditor.open(image);
    await editor.mkdir('/EFI/BOOT');
    await editor.writeFile('/EFI/BOOT/grub.cfg', 'set timeout=0\n');
    await editor.writeFile('/config.txt', 'a=1\n');
    await editor.writeFile('/config.txt', 'a=2\n');
    expect(await editor.readText('/efi/boot/GRUB.CFG')).toBe('set timeout=0\n');
    expect(await editor.readText('/config.txt')).toBe('a=2\n');
    expect((await editor.list('/')).map((e) => [e.name, e.type])).toEqual([
      ['EFI', 'dir'],
      ['config.txt', 'file'],
    ]);
    await expect(editor.symlink('/x', '/y')).rejects.toThrow(/FAT has no symlinks/);
    await editor.remove('/EFI', { recursive: true });
    expect(await editor.exists('/EFI/BOOT/grub.cfg')).toBe(false);
    expect((await tool('mtype', ['-i', image, '::/config.txt'])).stdout).toBe('a=2\n');
    const check = await tool('fsck.vfat', ['-n', image]);
    expect(check.exitCode).toBe(0);
  });

  it('copies a host tree in', async () => {
    const image = path.join(base, 'boot2.vfat');
    await makeFat(image, 32 * MiB);
    const tree = path.join(base, 'boottree');
    fs.mkdirSync(path.join(tree, 'overlays'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'overlays/a.dtbo'), 'dtbo');
    fs.writeFileSync(path.join(tree, 'cmdline.txt'), 'root=/dev/x\n');
    const editor = await FatEditor.open(image);
    await editor.copyIn(tree, '/');
    await editor.copyIn(tree, '/');
    expect(await editor.readText('/overlays/a.dtbo')).toBe('dtbo');
    expect(await editor.readText('/cmdline.txt')).toBe('root=/dev/x\n');
  });
});

describe('probeFilesystem', () => {
  it('tells filesystems apart by their magic numbers', async () => {
    expect(await probeFilesystem(await ext4Image(), 0)).toBe('ext4');
    const fat = path.join(base, 'probe.vfat');
    await makeFat(fat, 8 * MiB);
    expect(await probeFilesystem(fat, 0)).toBe('vfat');
    const ext2 = path.join(base, 'probe.ext2');
    await tool('truncate', ['-s', '8M', ext2]);
    await tool('mke2fs', ['-q', '-F', '-t', 'ext2', ext2]);
    expect(await probeFilesystem(ext2, 0)).toBe('ext2');
    const luks = path.join(base, 'probe.luks');
    fs.writeFileSync(luks, Buffer.concat([Buffer.from('LUKS\xba\xbe', 'latin1'), Buffer.alloc(70000)]));
    expect(await probeFilesystem(luks, 0)).toBe('luks');
    const random = path.join(base, 'probe.bin');
    fs.writeFileSync(random, Buffer.alloc(70000, 7));
    expect(await probeFilesystem(random, 0)).toBe('unknown');
  });
});
