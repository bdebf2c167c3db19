import fs from 'node:fs';
import { Command, Option } from 'commander';
import {
  readArtifact,
  writeBootstrapArtifact,
  writeModuleImageArtifact,
  writeRootfsImageArtifact,
  type ArtifactCompression,
  type ArtifactInfo,
  type CommonOptions,
} from '../artifact/index.js';
import { UserError } from '../util/errors.js';

/** `mender-convert artifact …`: write, read and validate Mender Artifacts, with mender-artifact's flag names. */

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

function compressionOf(value: string): ArtifactCompression {
  const names: Record<string, ArtifactCompression> = { none: 'none', gzip: 'gzip', lzma: 'xz', xz: 'xz', zstd: 'zstd' };
  const mapped = names[value];
  if (!mapped) throw new UserError(`Unknown compression '${value}'.`, { hint: 'Use none, gzip, lzma or zstd.' });
  if (mapped === 'zstd') process.stderr.write('warning: zstd Artifacts need a Mender client 4.x or later; Debian\'s mender-client 3.x cannot install them.\n');
  return mapped;
}

function epoch(): number {
  const text = process.env.SOURCE_DATE_EPOCH;
  return text && /^\d+$/.test(text) ? Number(text) : Math.floor(Date.now() / 1000);
}

function withCommonOptions(command: Command): Command {
  return command
    .requiredOption('-n, --artifact-name <name>', 'name of the Artifact')
    .option('-t, --device-type <type>', 'compatible device type; repeatable', collect, [])
    .option('--compatible-types <type>', 'alias of --device-type; repeatable', collect, [])
    .requiredOption('-o, --output-path <file>', 'where to write the Artifact')
    .option('-g, --provides-group <group>', 'the group the Artifact provides')
    .option('-N, --artifact-name-depends <name>', 'Artifact name one of which must be installed; repeatable', collect, [])
    .option('-G, --depends-groups <group>', 'group the Artifact depends on; repeatable', collect, [])
    .option('-p, --provides <KEY:VALUE>', 'type-info provides; repeatable', collect, [])
    .option('-d, --depends <KEY:VALUE>', 'type-info depends; repeatable', collect, [])
    .option('--clears-provides <pattern>', 'clears_artifact_provides entry; repeatable', collect, [])
    .option('--no-default-clears-provides', 'do not add the default clears_artifact_provides')
    .option('-s, --script <file>', 'state script (e.g. ArtifactInstall_Enter_00); repeatable', collect, [])
    .option('-k, --key <file>', 'private key (PEM, RSA or ECDSA P-256) to sign with')
    .addOption(new Option('--compression <kind>', 'none, gzip, lzma (xz) or zstd').default('gzip'))
    .option('--compression-level <n>', 'compressor level', (v) => Number(v))
    .option('--no-progress', 'accepted for compatibility; progress is never drawn');
}

interface CommonFlags {
  artifactName: string;
  deviceType: string[];
  compatibleTypes: string[];
  outputPath: string;
  providesGroup?: string;
  artifactNameDepends: string[];
  dependsGroups: string[];
  provides: string[];
  depends: string[];
  clearsProvides: string[];
  defaultClearsProvides: boolean;
  script: string[];
  key?: string;
  compression: string;
  compressionLevel?: number;
}

function commonOptions(flags: CommonFlags): CommonOptions {
  for (const script of flags.script) if (!fs.existsSync(script)) throw new UserError(`The state script ${script} does not exist.`);
  return {
    output: flags.outputPath,
    artifactName: flags.artifactName,
    deviceTypes: [...flags.deviceType, ...flags.compatibleTypes],
    group: flags.providesGroup,
    dependsArtifactNames: flags.artifactNameDepends,
    dependsGroups: flags.dependsGroups,
    depends: keyValues(flags.depends, '--depends'),
    provides: keyValues(flags.provides, '--provides'),
    clearsProvides: flags.clearsProvides,
    defaultClearsProvides: flags.defaultClearsProvides,
    scripts: flags.script.map((file) => ({ name: file.split('/').pop()!, path: file })),
    compression: compressionOf(flags.compression),
    level: flags.compressionLevel,
    signingKey: flags.key,
    mtime: epoch(),
  };
}

function describe(info: ArtifactInfo): string {
  const lines = [
    'Mender Artifact:',
    `  Name: ${info.name}`,
    `  Format: ${info.format}`,
    `  Version: ${info.version}`,
    `  Signature: ${info.signatureVerified ? 'signed and verified correctly' : info.signed ? 'signed but no key for verification provided' : 'no signature'}`,
    `  Compatible devices: [${info.deviceTypes.join(' ')}]`,
    `  Provides group: ${info.group ?? ''}`,
    `  Depends on one of artifact(s): [${info.dependsArtifactNames.join(', ')}]`,
    `  Depends on one of group(s): [${info.dependsGroups.join(', ')}]`,
    `  State scripts:${info.scripts.map((s) => `\n    ${s}`).join('')}`,
    '',
    'Updates:',
  ];
  info.payloads.forEach((payload, index) => {
    lines.push(`  ${index}:`, `    Type:   ${payload.type ?? 'Empty type'}`, '    Provides:');
    for (const [key, value] of Object.entries(payload.provides)) lines.push(`      ${key}: ${value}`);
    lines.push(`    Depends: ${Object.keys(payload.depends).length ? JSON.stringify(payload.depends) : 'Nothing'}`);
    lines.push(`    Clears Provides: ${JSON.stringify(payload.clearsProvides)}`);
    lines.push(`    Metadata: ${payload.metaData === undefined ? 'Nothing' : JSON.stringify(payload.metaData)}`);
    lines.push(`    Files:${payload.files.length ? '' : ' None'}`);
    for (const file of payload.files) lines.push(`      name:     ${file.name}`, `      size:     ${file.size}`, `      checksum: ${file.sha256}`);
  });
  return `${lines.join('\n')}\n`;
}

export function registerArtifactCommands(program: Command): void {
  const artifact = program.command('artifact').description('write, read and validate Mender Artifacts');
  const write = artifact.command('write').description('write an Artifact');

  withCommonOptions(write.command('rootfs-image').description('an Artifact that installs a root filesystem image'))
    .requiredOption('-f, --file <file>', 'the filesystem image')
    .option('--software-name <name>', 'provide the version as rootfs-image.<name>.version')
    .option('--software-version <version>', 'the version provided (default: the artifact name)')
    .option('--software-filesystem <name>', 'use <name> instead of rootfs-image in the version key')
    .action(async (flags) => {
      if (!fs.existsSync(flags.file)) throw new UserError(`The payload file ${flags.file} does not exist.`);
      await writeRootfsImageArtifact({
        ...commonOptions(flags),
        payload: flags.file,
        softwareName: flags.softwareName,
        softwareVersion: flags.softwareVersion,
        softwareFilesystem: flags.softwareFilesystem,
      });
    });

  withCommonOptions(write.command('module-image').description('an Artifact for an update module'))
    .requiredOption('-T, --type <module>', 'the update module that installs it')
    .option('-f, --file <file>', 'payload file; repeatable', collect, [])
    .option('-m, --meta-data <file>', 'JSON file with the meta-data for the update module')
    .option('--software-name <name>', 'provide the version as rootfs-image.<name>.version')
    .option('--software-version <version>', 'the version provided (default: the artifact name)')
    .action(async (flags) => {
      for (const file of flags.file as string[]) if (!fs.existsSync(file)) throw new UserError(`The payload file ${file} does not exist.`);
      let metaData: Record<string, unknown> | undefined;
      if (flags.metaData) {
        try {
          metaData = JSON.parse(fs.readFileSync(flags.metaData, 'utf8'));
        } catch {
          throw new UserError(`The meta-data file ${flags.metaData} is not readable JSON.`);
        }
        if (typeof metaData !== 'object' || metaData === null || Array.isArray(metaData)) throw new UserError('The meta-data must be a JSON object.');
      }
      await writeModuleImageArtifact({ ...commonOptions(flags), type: flags.type, files: flags.file, metaData, softwareName: flags.softwareName, softwareVersion: flags.softwareVersion });
    });

  withCommonOptions(write.command('bootstrap-artifact').description('an Artifact with an empty payload that records what is installed'))
    .action(async (flags) => {
      const options = commonOptions(flags);
      await writeBootstrapArtifact({ ...options, provides: options.provides ?? {} });
    });

  artifact
    .command('read')
    .description('print the fields of an Artifact (checking its checksums)')
    .argument('<file>')
    .option('-k, --key <file>', 'public key to verify the signature with')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { key?: string; json?: boolean }) => {
      const info = await readArtifact(file, { publicKey: flags.key });
      process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : describe(info));
    });

  artifact
    .command('validate')
    .description('check an Artifact: structure, checksums and (with a key) its signature')
    .argument('<file>')
    .option('-k, --key <file>', 'public key to verify the signature with')
    .action(async (file: string, flags: { key?: string }) => {
      await readArtifact(file, { publicKey: flags.key });
      process.stdout.write(`Artifact file '${file}' validated successfully\n`);
    });
}
