import fs from 'node:fs';
import { type Command, Option } from 'commander';
import type { ArtifactInfo, ArtifactKind, ArtifactSpec, PayloadSource, SoftwareVersion } from '../artifact/index.js';
import { parseCompression } from '../util/compression.js';
import { UserError } from '../util/errors.js';

/**
 * `mender-convert artifact …`: write, read and validate Mender Artifacts with the flag names
 * of mender-artifact 3.9 (and --compatible-types from newer releases).
 */

const collect = (value: string, previous: string[]) => [...previous, value];

function keyValues(pairs: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf(':');
    if (at <= 0) throw new UserError(`${flag} takes KEY:VALUE, not '${pair}'.`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

function level(value: string): number {
  if (!/^\d+$/.test(value)) throw new UserError(`--compression-level takes a number, not '${value}'.`);
  return Number(value);
}

function withCommonOptions(command: Command): Command {
  return command
    .requiredOption('-n, --artifact-name <name>', 'name of the Artifact')
    .option('-t, --device-type <type>', 'compatible device type; repeatable', collect, [])
    .option('--compatible-types <type>', 'alias of --device-type (newer mender-artifact); repeatable', collect, [])
    .requiredOption('-o, --output-path <file>', 'where to write the Artifact')
    .option('-g, --provides-group <group>', 'the group the Artifact provides')
    .option('--artifact-group <group>', 'alias of --provides-group')
    .option('-N, --artifact-name-depends <name>', 'Artifact name one of which must be installed; repeatable', collect, [])
    .option('-G, --depends-groups <group>', 'group one of which must be installed; repeatable', collect, [])
    .option('-p, --provides <KEY:VALUE>', 'type-info artifact_provides entry; repeatable', collect, [])
    .option('-d, --depends <KEY:VALUE>', 'type-info artifact_depends entry; repeatable', collect, [])
    .option('--clears-provides <pattern>', 'clears_artifact_provides entry; repeatable', collect, [])
    .option('--no-default-clears-provides', 'do not add the default clears_artifact_provides')
    .option('-k, --key <file>', 'private key (PEM, RSA 2048-4096 or ECDSA P-256) to sign with')
    .addOption(new Option('--compression <kind>', 'none, gzip, lzma (xz) or zstd').default('gzip'))
    .option('--compression-level <n>', 'compressor level (gzip 1-12, xz 0-9, zstd 1-19)', level)
    .option('--no-progress', 'accepted for mender-artifact compatibility (no progress bar is drawn)');
}

function withSoftwareOptions(command: Command, versionKey: string): Command {
  return command
    .option('--software-name <name>', `store the version as ${versionKey.replace('NAME', '<name>')}`)
    .option('--software-version <version>', 'the software version provided (default: the artifact name)')
    .option('--software-filesystem <name>', 'use <name> instead of rootfs-image in the version key')
    .option('--no-default-software-version', 'provide no software version (for old clients)');
}

interface CommonFlags {
  artifactName: string;
  deviceType: string[];
  compatibleTypes: string[];
  outputPath: string;
  providesGroup?: string;
  artifactGroup?: string;
  artifactNameDepends: string[];
  dependsGroups: string[];
  provides: string[];
  depends: string[];
  clearsProvides: string[];
  defaultClearsProvides: boolean;
  key?: string;
  compression: string;
  compressionLevel?: number;
  script?: string[];
  softwareName?: string;
  softwareVersion?: string;
  softwareFilesystem?: string;
  defaultSoftwareVersion?: boolean;
}

function software(flags: CommonFlags): SoftwareVersion | false {
  if (flags.defaultSoftwareVersion === false) return false;
  return { name: flags.softwareName, version: flags.softwareVersion, filesystem: flags.softwareFilesystem };
}

function spec(kind: ArtifactKind, flags: CommonFlags, files: PayloadSource[]): ArtifactSpec {
  if (flags.providesGroup && flags.artifactGroup && flags.providesGroup !== flags.artifactGroup) {
    throw new UserError('--provides-group and --artifact-group name different groups.', { hint: 'Give the group once.' });
  }
  const algorithm = parseCompression(flags.compression, 'Artifact compression');
  if (algorithm === 'zstd') {
    process.stderr.write("warning: zstd Artifacts need mender-artifact >= 3.10 and a Mender client 4.x or later; Debian's mender-client 3.x cannot install them.\n");
  }
  return {
    kind,
    output: flags.outputPath,
    artifactName: flags.artifactName,
    deviceTypes: [...flags.deviceType, ...flags.compatibleTypes],
    artifactGroup: flags.providesGroup ?? flags.artifactGroup,
    dependsArtifactNames: flags.artifactNameDepends,
    dependsGroups: flags.dependsGroups,
    depends: keyValues(flags.depends, '--depends'),
    provides: keyValues(flags.provides, '--provides'),
    clearsProvides: flags.clearsProvides,
    defaultClearsProvides: flags.defaultClearsProvides,
    scripts: (flags.script ?? []).map((file) => ({ path: file })),
    compression: { algorithm, level: flags.compressionLevel },
    signingKey: flags.key,
    files,
  };
}

function payloadFiles(paths: string[]): PayloadSource[] {
  return paths.map((file) => ({ name: file.split('/').pop()!, path: file }));
}

async function write(specification: ArtifactSpec): Promise<void> {
  const { writeArtifact } = await import('../artifact/index.js');
  const result = await writeArtifact(specification);
  process.stdout.write(`Wrote ${result.output} (${result.bytes} bytes${result.signed ? ', signed' : ''}).\n`);
}

function providesLines(record: Record<string, unknown>): string[] {
  return Object.entries(record)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `\t${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

/** The fields in the layout of `mender-artifact read`. */
export function describeArtifact(info: ArtifactInfo): string {
  const lines = [
    'Mender artifact:',
    `  Name: ${info.name}`,
    `  Format: ${info.format}`,
    `  Version: ${info.version}`,
    `  Signature: ${info.signatureVerified ? 'signed and verified correctly' : info.signed ? 'signed but no key for verification provided; please use `-k` option for providing verification key' : 'no signature'}`,
    `  Compatible devices: '[${info.deviceTypes.join(' ')}]'`,
    `  Provides group: ${info.group ?? ''}`,
    `  Depends on one of artifact(s): [${info.dependsArtifactNames.join(', ')}]`,
    `  Depends on one of group(s): [${info.dependsGroups.join(', ')}]`,
    '  State scripts:',
    ...info.scripts.map((script) => `    ${script}`),
    '',
    'Updates:',
  ];
  info.payloads.forEach((payload, index) => {
    lines.push(`    ${index}:`, `    Type:   ${payload.type ?? 'Empty type'}`, '    Provides:');
    lines.push(...(Object.keys(payload.provides).length ? providesLines(payload.provides) : ['\tNothing']));
    lines.push(...(Object.keys(payload.depends).length ? ['    Depends:', ...providesLines(payload.depends)] : ['    Depends: Nothing']));
    lines.push(`    Clears Provides: [${payload.clearsProvides.map((pattern) => JSON.stringify(pattern)).join(', ')}]`);
    if (payload.metaData) lines.push('    Metadata:', ...JSON.stringify(payload.metaData, null, 2).split('\n').map((line) => `\t${line}`));
    else lines.push('    Metadata: Nothing');
    lines.push(`    Files:${payload.files.length ? '' : ' None'}`);
    for (const file of payload.files) {
      lines.push(`      name:     ${file.name}`, `      size:     ${file.size}`, `      modified: ${new Date(file.mtime * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC')}`, `      checksum: ${file.sha256}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

export function registerArtifactCommands(program: Command): void {
  const artifact = program.command('artifact').description('write, read and validate Mender Artifacts (mender-artifact compatible)');
  const writeCommand = artifact.command('write').description('write an Artifact');

  const rootfs = withSoftwareOptions(withCommonOptions(writeCommand.command('rootfs-image').description('an Artifact that installs a root filesystem image')), 'rootfs-image.NAME.version')
    .requiredOption('-f, --file <file>', 'the filesystem image (the payload)')
    .option('-s, --script <file>', 'state script, e.g. ArtifactInstall_Enter_00; repeatable', collect, [])
    .option('--no-checksum-provide', 'do not provide rootfs-image.checksum')
    .option('--legacy-rootfs-image-checksum', 'provide the checksum as rootfs_image_checksum');
  rootfs.action(async (flags: CommonFlags & { file: string; checksumProvide: boolean; legacyRootfsImageChecksum?: boolean }) => {
    const specification = spec('rootfs-image', flags, payloadFiles([flags.file]));
    await write({
      ...specification,
      software: software(flags),
      checksumProvide: flags.checksumProvide === false ? false : flags.legacyRootfsImageChecksum ? 'rootfs_image_checksum' : 'rootfs-image.checksum',
    });
  });

  const module = withSoftwareOptions(withCommonOptions(writeCommand.command('module-image').description('an Artifact for an update module')), 'rootfs-image.NAME.version (default NAME: the type)')
    .requiredOption('-T, --type <module>', 'the update module that installs it (payload type)')
    .option('-f, --file <file>', 'payload file; repeatable', collect, [])
    .option('-m, --meta-data <file>', 'JSON file with the meta-data for the update module')
    .option('-s, --script <file>', 'state script, e.g. ArtifactInstall_Enter_00; repeatable', collect, []);
  module.action(async (flags: CommonFlags & { type: string; file: string[]; metaData?: string }) => {
    let metaData: Record<string, unknown> | undefined;
    if (flags.metaData) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(fs.readFileSync(flags.metaData, 'utf8'));
      } catch {
        throw new UserError(`The meta-data file ${flags.metaData} is not readable JSON.`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UserError(`The meta-data in ${flags.metaData} must be a JSON object.`);
      metaData = parsed as Record<string, unknown>;
    }
    await write({ ...spec('module-image', flags, payloadFiles(flags.file)), moduleType: flags.type, metaData, software: software(flags) });
  });

  const bootstrap = withCommonOptions(writeCommand.command('bootstrap-artifact').description('an Artifact with an empty payload that records what is installed'));
  bootstrap.action(async (flags: CommonFlags) => {
    await write(spec('bootstrap', flags, []));
  });

  artifact
    .command('read')
    .description('print the fields of an Artifact, checking every checksum (and the signature, with -k)')
    .argument('<file>')
    .option('-k, --key <file>', 'public key (PEM) to verify the signature with')
    .option('--json', 'print JSON')
    .option('--no-progress', 'accepted for mender-artifact compatibility')
    .action(async (file: string, flags: { key?: string; json?: boolean }) => {
      const { readArtifact } = await import('../artifact/index.js');
      const info = await readArtifact(file, { publicKey: flags.key });
      process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : describeArtifact(info));
    });

  artifact
    .command('validate')
    .description('check an Artifact: structure, order, checksums and (with -k) its signature')
    .argument('<file>')
    .option('-k, --key <file>', 'public key (PEM) to verify the signature with')
    .action(async (file: string, flags: { key?: string }) => {
      const { readArtifact } = await import('../artifact/index.js');
      await readArtifact(file, { publicKey: flags.key });
      process.stdout.write(`Artifact file '${file}' validated successfully\n`);
    });
}
