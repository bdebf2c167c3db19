/**
 * The grub.d integration against the real grub-mkconfig: /etc/grub.d/05_mender in a prepared
 * directory tree (grub-mkconfig's own script, pointed at the tree and at a grub-probe stand-in,
 * so no device is probed) prints exactly what the conversion writes as the first grub.cfg, and
 * grub-script-check accepts it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateGrubConfig } from '../../../src/bootloader/grub/config.js';
import { grubDOutput, grubDScript, grubMkconfigFile, parseGrubDefaults } from '../../../src/bootloader/grub/grubd.js';
import { preparedGrubMkconfig, tool } from './harness.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grubd-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const CONFIG = generateGrubConfig({
  parts: { a: 2, b: 3 },
  rootDevices: { a: '/dev/sda2', b: '/dev/sda3' },
  kernelArgs: 'console=ttyS0,115200',
  initrd: true,
  kernelPath: '/vmlinuz',
  initrdPath: '/initrd.img',
});

function prepareTree(name: string, defaults: string): string {
  const tree = path.join(dir, name);
  fs.mkdirSync(path.join(tree, 'etc/grub.d'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'etc/default/grub.d'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'etc/grub.d/05_mender'), grubDScript(CONFIG), { mode: 0o755 });
  // The distribution's scripts, made non-executable by the conversion: grub-mkconfig skips them.
  fs.writeFileSync(path.join(tree, 'etc/grub.d/10_linux'), '#!/bin/sh\necho "menuentry distro {"\necho "}"\n', { mode: 0o644 });
  fs.writeFileSync(path.join(tree, 'etc/default/grub'), defaults);
  fs.writeFileSync(path.join(tree, 'etc/default/grub.d/serial.cfg'), 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS1"\n');
  return tree;
}

async function mkconfig(tree: string): Promise<{ stdout: string; stderr: string }> {
  const result = await tool(preparedGrubMkconfig(dir, tree), [], { env: { EUID: '0' } });
  return { stdout: result.stdout, stderr: result.stderr };
}

describe('grub.d integration', () => {
  it('grub-mkconfig with 05_mender prints what the conversion writes, with /etc/default/grub\'s arguments', async () => {
    const defaults = '# Debian\nGRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="  net.ifnames=0   biosdevname=0 "\n';
    const tree = prepareTree('plain', defaults);
    const { stdout } = await mkconfig(tree);
    // The grub.d/*.cfg line expands $GRUB_CMDLINE_LINUX, which only a shell can: the conversion
    // reads the plain lines, so the tree's drop-in is left out of the comparison here.
    fs.rmSync(path.join(tree, 'etc/default/grub.d/serial.cfg'));
    const { stdout: withoutDropIn } = await mkconfig(tree);
    const parsed = parseGrubDefaults([defaults]);
    expect(parsed.ignored).toEqual(['GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`']);
    const expected = grubMkconfigFile([{ name: '05_mender', output: grubDOutput(CONFIG, parsed.values) }], `${tree}/etc/grub.d`, `${tree}/etc/default/grub`);
    expect(withoutDropIn).toBe(expected);
    expect(withoutDropIn).toContain('mender_kernel_args="${mender_kernel_args} net.ifnames=0 biosdevname=0 quiet"\n');
    expect(withoutDropIn).not.toContain('distro');
    // With the drop-in, the shell adds its argument (a case the conversion names in its notes).
    expect(stdout).toContain('mender_kernel_args="${mender_kernel_args} net.ifnames=0 biosdevname=0 console=ttyS1 quiet"\n');
    const file = path.join(dir, 'grub.cfg');
    fs.writeFileSync(file, withoutDropIn);
    await tool('grub-script-check', [file]);
  });

  it('kernel arguments that would break the GRUB string are left out, by the script and by the conversion alike', async () => {
    const defaults = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=\'init="/bin/sh"\'\n';
    const tree = prepareTree('unsafe', defaults);
    fs.rmSync(path.join(tree, 'etc/default/grub.d/serial.cfg'));
    const { stdout, stderr } = await mkconfig(tree);
    expect(stderr).toContain('kernel arguments with a quote, backslash, $ or ; are left out');
    const parsed = parseGrubDefaults([defaults]);
    expect(stdout).toBe(grubMkconfigFile([{ name: '05_mender', output: grubDOutput(CONFIG, parsed.values) }], `${tree}/etc/grub.d`, `${tree}/etc/default/grub`));
    expect(stdout).not.toContain('mender_kernel_args="${mender_kernel_args}');
  });
});
