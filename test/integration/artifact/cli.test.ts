import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { headerFiles, makeFixtures, run, type Fixtures } from './fixtures.js';

/** `mender-convert artifact …` with mender-artifact's flag names, checked against mender-artifact itself. */

let fx: Fixtures;
beforeAll(async () => {
  fx = await makeFixtures('cli');
});

describe('mender-convert artifact write', () => {
  it('rootfs-image with every common flag: same header files and the same `read` output as mender-artifact', async () => {
    const ours = path.join(fx.dir, 'cli-rootfs.mender');
    const theirs = path.join(fx.dir, 'ma-rootfs.mender');
    const flags = [
      '-n', 'cli-1', '-t', 'a', '-f', fx.payload, '-g', 'grp', '-N', 'cli-0', '-G', 'old-grp', '-p', 'x:y', '-d', 'hw:2',
      '--clears-provides', 'x.*', '-s', fx.script, '--software-name', 'os', '--software-version', '7', '--compression', 'lzma', '-k', fx.keys.rsa.priv,
    ];
    const write = await runCli(['artifact', 'write', 'rootfs-image', ...flags, '--compatible-types', 'b', '-o', ours]);
    expect(write.exitCode, String(write.all)).toBe(0);
    expect(write.stdout).toMatch(/Wrote .*cli-rootfs\.mender \(\d+ bytes, signed\)/);
    expect((await run('mender-artifact', ['write', 'rootfs-image', ...flags, '-t', 'b', '-o', theirs, '--no-progress'])).exitCode).toBe(0);
    expect(await headerFiles(ours)).toEqual(await headerFiles(theirs));
    const theirRead = (await run('mender-artifact', ['read', '-k', fx.keys.rsa.pub, ours])).stdout;
    const ourRead = await runCli(['artifact', 'read', '-k', fx.keys.rsa.pub, ours]);
    // runCli strips the final newline
    expect(ourRead.stdout).toBe(theirRead.replace(/\n$/, ''));
    const json = JSON.parse(String((await runCli(['artifact', 'read', '--json', '-k', fx.keys.rsa.pub, ours])).stdout));
    expect(json).toMatchObject({ name: 'cli-1', deviceTypes: ['a', 'b'], group: 'grp', compression: 'xz', signed: true, signatureVerified: true, scripts: [path.basename(fx.script)] });
    expect(json.payloads[0].provides).toMatchObject({ x: 'y', 'rootfs-image.os.version': '7' });
    const validate = await runCli(['artifact', 'validate', '-k', fx.keys.rsa.pub, ours]);
    expect(validate.stdout).toBe(`Artifact file '${ours}' validated successfully`);
  });

  it('module-image with -T, several -f and -m; bootstrap-artifact with provides and clears', async () => {
    const meta = path.join(fx.dir, 'meta.json');
    fs.writeFileSync(meta, '{"b":[1,2],"a":"x"}');
    const module = ['-n', 'm-1', '-t', 'a', '-T', 'app', ...fx.moduleFiles.flatMap((f) => ['-f', f]), '-m', meta, '--compression', 'gzip'];
    const bootstrap = ['-n', 'b-1', '-t', 'a', '-p', 'rootfs-image.version:b-1', '--clears-provides', 'rootfs-image.*', '--compression', 'none'];
    for (const [kind, flags] of [['module-image', module], ['bootstrap-artifact', bootstrap]] as const) {
      const ours = path.join(fx.dir, `cli-${kind}.mender`);
      const theirs = path.join(fx.dir, `ma-${kind}.mender`);
      const write = await runCli(['artifact', 'write', kind, ...flags, '-o', ours]);
      expect(write.exitCode, String(write.all)).toBe(0);
      expect((await run('mender-artifact', ['write', kind, ...flags, '-o', theirs])).exitCode).toBe(0);
      expect(await headerFiles(ours)).toEqual(await headerFiles(theirs));
      expect((await runCli(['artifact', 'read', ours])).stdout).toBe((await run('mender-artifact', ['read', ours])).stdout.replace(/\n$/, ''));
    }
  });

  it('zstd is written with a warning about Mender 3.x clients and read back', async () => {
    const output = path.join(fx.dir, 'cli-zstd.mender');
    const write = await runCli(['artifact', 'write', 'module-image', '-T', 'file', '-n', 'z-1', '-t', 'a', '-f', fx.moduleFiles[1]!, '-o', output, '--compression', 'zstd']);
    expect(write.exitCode, String(write.all)).toBe(0);
    expect(write.stderr).toMatch(/warning: zstd Artifacts need .*Debian's mender-client 3\.x cannot install them/);
    const read = JSON.parse(String((await runCli(['artifact', 'read', '--json', output])).stdout));
    expect(read).toMatchObject({ name: 'z-1', compression: 'zstd' });
  });

  it('refusals name the problem and leave no output', async () => {
    const badScript = path.join(fx.dir, 'ArtifactInstall_Sometime_00');
    fs.writeFileSync(badScript, '#!/bin/sh\n');
    const cases: [string[], RegExp][] = [
      [['module-image', '-T', 'file', '-n', 'm-1', '-t', 'a', '-f', fx.moduleFiles[1]!, '-s', badScript], /not a valid Artifact state script name/],
      [['module-image', '-T', 'file', '-n', 'bad name', '-t', 'a'], /characters the Mender client rejects/],
      [['rootfs-image', '-n', 'r', '-f', fx.payload], /at least one compatible device type/],
      [['rootfs-image', '-n', 'r', '-t', 'a', '-f', fx.payload, '--compression', 'bzip2'], /Unknown Artifact compression 'bzip2'/],
      [['rootfs-image', '-n', 'r', '-t', 'a', '-f', fx.payload, '-p', 'novalue'], /--provides takes KEY:VALUE/],
      [['rootfs-image', '-n', 'r', '-t', 'a', '-f', path.join(fx.dir, 'missing.img')], /does not exist/],
      [['rootfs-image', '-n', 'r', '-t', 'a', '-f', fx.payload, '-k', fx.keys.rsa.pub], /is not a PEM private key/],
    ];
    for (const [args, message] of cases) {
      const output = path.join(fx.dir, 'refused.mender');
      const result = await runCli(['artifact', 'write', ...args, '-o', output]);
      expect(result.exitCode, String(result.all)).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(fs.existsSync(output)).toBe(false);
    }
  });

  it('read and validate refuse a damaged Artifact with exit status 1', async () => {
    const output = path.join(fx.dir, 'cli-damaged.mender');
    await runCli(['artifact', 'write', 'rootfs-image', '-n', 'r', '-t', 'a', '-f', fx.payload, '-o', output, '--compression', 'none']);
    const data = fs.readFileSync(output);
    data[data.length - 2048 - 600] ^= 1; // in the payload, before both end-of-archive blocks
    fs.writeFileSync(output, data);
    for (const command of ['read', 'validate']) {
      const result = await runCli(['artifact', command, output]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/Checksum mismatch for data\/0000\/rootfs\.ext4/);
    }
  });
});
