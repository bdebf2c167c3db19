import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KNOB_KEYS, KNOBS } from '../../../src/config/knobs.js';
import { environmentLayer, loadConfig, loadYamlLayer, nearestKey, PACKAGE_ROOT } from '../../../src/config/load.js';
import { renderDefaultsYaml, renderEffective, renderJsonSchema } from '../../../src/config/render.js';
import { errorOf } from '../../helpers/errors.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'config-test-'));
function writeConfig(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('config layers', () => {
  it('every board config shipped in configs/ is valid', () => {
    const dir = path.join(PACKAGE_ROOT, 'configs');
    const boards = fs.readdirSync(dir).filter((name) => name.endsWith('.yaml') && name !== 'defaults.yaml');
    expect(boards).toEqual(expect.arrayContaining(['generic_x86-64.yaml', 'qemux86-64.yaml', 'generic_arm64_uefi.yaml', 'raspberrypi4_bookworm_64bit.yaml', 'raspberrypi0w.yaml']));
    for (const board of boards) {
      const { config } = loadConfig({ configFiles: [path.join(dir, board)], env: {} });
      expect(config['bootloader.type'], board).toMatch(/^(grub|uboot)$/);
    }
    const qemu = loadConfig({ configFiles: [path.join(dir, 'qemux86-64.yaml')], env: {} }).config;
    expect(qemu['storage.device_base']).toBe('/dev/sda');
    expect(qemu['storage.copy_boot_gap']).toBe(false);
    // Raspberry Pi configurations get their common settings from configs/include/raspberrypi.yaml.
    const { config: pi, sources: piSources } = loadConfig({ configFiles: [path.join(dir, 'raspberrypi4_bookworm_64bit.yaml')], env: {} });
    expect(pi['bootloader.type']).toBe('uboot');
    expect(pi['storage.alignment']).toBe(4 * 1024 * 1024);
    expect(pi['board.hooks']).toEqual([path.join(PACKAGE_ROOT, 'board-integrations/raspberrypi/integration.ts')]);
    expect(fs.existsSync(pi['board.hooks'][0]!)).toBe(true);
    expect(piSources['storage.alignment']).toContain('include/raspberrypi.yaml');
    expect(pi['uboot.source']).toBe('debian:u-boot-rpi/rpi_4');
  });

  it('a setting given twice in one mapping is named at both lines, nested ones too', () => {
    const file = writeConfig('twice.yaml', 'artifact:\n  name: one\n  name: two\nstorage:\n  total_size_mb: 2048\nstorage:\n  alignment: 1048576\n');
    expect(errorOf(() => loadYamlLayer(file, 'twice.yaml')).message).toBe(
      "Invalid config:\n  twice.yaml:3: 'artifact.name' is set again (first at line 2); set it once\n  twice.yaml:6: 'storage' is set again (first at line 4); set it once",
    );
  });

  it('a config of 40 000 unknown keys lists the first 20 of them and how many more', () => {
    const file = writeConfig('many.yaml', Array.from({ length: 40_000 }, (_, i) => `unknown_key_${i}: ${i}\n`).join(''));
    const error = errorOf(() => loadYamlLayer(file, 'many.yaml'));
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(22);
    expect(lines[1]).toMatch(/^ {2}many\.yaml:1: unknown setting 'unknown_key_0'; did you mean '[a-z_.]+'\?$/);
    expect(lines[20]).toMatch(/^ {2}many\.yaml:20: unknown setting 'unknown_key_19'/);
    expect(lines[21]).toBe('  … and 39980 more (40000 in all)');
  });

  it('a config named without a directory is a shipped one unless a file of that name is here', () => {
    const cwd = process.cwd();
    process.chdir(tmp);
    try {
      for (const name of ['raspberrypi4_bookworm_64bit', 'raspberrypi4_bookworm_64bit.yaml']) {
        expect(loadConfig({ configFiles: [name], env: {} }).sources['uboot.source']).toBe(`${path.join(PACKAGE_ROOT, 'configs/raspberrypi4_bookworm_64bit.yaml')}:7`);
      }
      writeConfig('qemux86-64.yaml', 'storage:\n  total_size_mb: 1234\n');
      expect(loadConfig({ configFiles: ['qemux86-64.yaml'], env: {} }).config['storage.total_size_mb']).toBe(1234);
      const missing = errorOf(() => loadConfig({ configFiles: ['raspberrypi9'], env: {} }));
      expect(missing.message).toBe('Cannot read the config file raspberrypi9: ENOENT.');
      expect(missing.hint).toMatch(/name a shipped config: .*generic_x86-64, .*raspberrypi4_bookworm_64bit/);
      expect(missing.hint).not.toContain('defaults');
    } finally {
      process.chdir(cwd);
    }
  });

  it('include: reads other configs first (relative to the including file), later settings win; a cycle is refused', () => {
    writeConfig('base.yaml', 'storage:\n  total_size_mb: 1000\n  alignment: 1048576\noverlays: [base-overlay]\n');
    const top = writeConfig('top.yaml', 'include: [base.yaml]\nstorage:\n  total_size_mb: 2000\noverlays: [top-overlay]\n');
    const { config, sources } = loadConfig({ configFiles: [top], env: {} });
    expect(config['storage.total_size_mb']).toBe(2000);
    expect(config['storage.alignment']).toBe(1048576);
    expect(sources['storage.alignment']).toBe(`${path.join(tmp, 'base.yaml')}:3`);
    expect(config.overlays).toEqual([path.join(tmp, 'base-overlay'), path.join(tmp, 'top-overlay')]);
    writeConfig('loop-a.yaml', 'include: [loop-b.yaml]\n');
    writeConfig('loop-b.yaml', 'include: [loop-a.yaml]\n');
    expect(errorOf(() => loadConfig({ configFiles: [path.join(tmp, 'loop-a.yaml')], env: {} })).message).toMatch(/includes .*loop-a\.yaml, which includes it again/);
    expect(errorOf(() => loadConfig({ configFiles: [writeConfig('bad-include.yaml', 'include: [{a: 1}]\n')], env: {} })).message).toContain('include takes config file paths');
  });

  it('starts from configs/defaults.yaml with every knob at its default', () => {
    const { config, sources } = loadConfig({ configFiles: [], env: {} });
    for (const key of KNOB_KEYS) expect(config[key]).toEqual(KNOBS[key].default);
    expect(sources['storage.total_size_mb']).toMatch(/^configs\/defaults\.yaml:\d+$/);
  });

  it('lets later configs win over earlier ones, the environment over files and flags over all', () => {
    const board = writeConfig('board.yaml', 'storage:\n  total_size_mb: 4096\n  alignment: 4194304\nbootloader:\n  type: uboot\n');
    const site = writeConfig('site.yaml', 'storage:\n  total_size_mb: 2048\nartifact:\n  name: from-file\n');
    const { config, sources } = loadConfig({
      configFiles: [board, site],
      env: { MENDER_ARTIFACT_NAME: 'from-env', MENDER_DATA_PART_GROWFS: 'n' },
      flags: { 'artifact.name': { raw: 'from-flag', flag: '--artifact-name' } },
    });
    expect(config['storage.total_size_mb']).toBe(2048);
    expect(sources['storage.total_size_mb']).toBe(`${site}:2`);
    expect(config['storage.alignment']).toBe(4194304);
    expect(config['bootloader.type']).toBe('uboot');
    expect(config['data.growfs']).toBe(false);
    expect(sources['data.growfs']).toBe('environment MENDER_DATA_PART_GROWFS');
    expect(config['artifact.name']).toBe('from-flag');
    expect(sources['artifact.name']).toBe('flag --artifact-name');
  });

  it('reads a mapping setting as text values (YAML numbers and booleans as written); a name given twice is refused', () => {
    const file = writeConfig('map.yaml', 'artifact:\n  provides:\n    app.version: 1.10\n    beta: true\n    build: 0042\n    label: "x y"\n  state_scripts: scripts\n');
    const { config } = loadConfig({ configFiles: [file], env: {} });
    expect(config['artifact.provides']).toEqual({ 'app.version': '1.10', beta: 'true', build: '0042', label: 'x y' });
    expect(config['artifact.state_scripts']).toBe(path.join(tmp, 'scripts'));
    const twice = writeConfig('map-twice.yaml', 'artifact:\n  depends:\n    a: "1"\n    b: "2"\n    a: "3"\n');
    expect(errorOf(() => loadYamlLayer(twice, 'map-twice.yaml')).message).toBe("map-twice.yaml:5: 'artifact.depends' names 'a' twice; name it once");
  });

  it('names the file, line, key and nearest valid key for an unknown setting', () => {
    const file = writeConfig('typo.yaml', 'storage:\n  total_size: 4096\n');
    const error = errorOf(() => loadYamlLayer(file));
    expect(error.message).toBe(`${file}:2: unknown setting 'storage.total_size'; did you mean 'storage.total_size_mb'?`);
  });

  it('maps an upstream variable used as a YAML key to the knob to use instead', () => {
    expect(nearestKey('MENDER_STORAGE_TOTAL_SIZE_MB')).toBe('storage.total_size_mb');
    expect(nearestKey('IMAGE_OVERHEAD_FACTOR')).toBe('rootfs.overhead_factor');
  });

  it.each([
    ['storage:\n  total_size_mb: big\n', /:2: 'storage.total_size_mb' must be a whole number/],
    ['storage:\n  total_size_mb: -5\n', /must be at least 1/],
    ['storage:\n  alignment: 1000\n', /must be a multiple of 512/],
    ['data:\n  growfs: maybe\n', /'data.growfs' must be true or false/],
    ['image:\n  compression: rar\n', /must be one of auto, none, gzip, xz, zstd/],
    ['artifact:\n  name: "bad name!"\n', /letters, digits/],
    ['storage: 5\n', /expected a mapping of settings under 'storage'/],
    ['artifact:\n  provides: [a, b]\n', /:2: 'artifact.provides' must be a mapping of names to values/],
    ['artifact:\n  provides:\n    app.version:\n', /:3: 'artifact.provides': 'app.version' has no value; each value must be text/],
    ['artifact:\n  depends:\n    app: [1]\n', /'artifact.depends': 'app' is a list; each value must be text/],
    ['artifact:\n  provides: { "a b": c }\n', /'artifact.provides' names "a b": a name has no spaces/],
    ['key: [unclosed\n', /not valid YAML/],
  ])('rejects a wrong value: %j', (text, pattern) => {
    const file = writeConfig('bad.yaml', text);
    expect(errorOf(() => loadYamlLayer(file)).message).toMatch(pattern);
  });

  it('reports every problem of a file at once', () => {
    const file = writeConfig('many.yaml', 'storage:\n  total_size_mb: x\nboot:\n  sise_mb: 3\n');
    const message = errorOf(() => loadYamlLayer(file)).message;
    expect(message).toContain(':2:');
    expect(message).toContain("did you mean 'boot.size_mb'");
  });

  it('keeps string values written as numbers verbatim and accepts upstream spellings', () => {
    const file = writeConfig('text.yaml', 'artifact:\n  name: 1.10\n  compression: lzma\nstorage:\n  partition_scheme: mbr\n');
    const layer = loadYamlLayer(file);
    expect(layer.get('artifact.name')?.value).toBe('1.10');
    expect(layer.get('artifact.compression')?.value).toBe('xz');
    expect(layer.get('storage.partition_scheme')?.value).toBe('dos');
  });

  it('never shows a secret in a message, whatever is wrong with it', () => {
    const file = writeConfig('secret.yaml', 'server:\n  tenant_token: [eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN]\n');
    const message = String(errorOf(() => loadConfig({ configFiles: [file], env: {} })));
    expect(message).toContain("'server.tenant_token' must be");
    expect(message).not.toContain('SECRET-TOKEN');
  });

  it('resolves overlay directories relative to the config file and appends flag overlays', () => {
    const file = writeConfig('overlay.yaml', 'overlays: [files/a]\n');
    const { config } = loadConfig({
      configFiles: [file],
      env: {},
      flags: { overlays: { raw: ['/abs/b'], flag: '--overlay' } },
    });
    expect(config.overlays).toEqual([path.join(tmp, 'files/a'), '/abs/b']);
  });

  it('board.raw_files: sectors become byte offsets, paths are relative to the config, uboot: names stay; a later config replaces the list', () => {
    const board = writeConfig('raw-board.yaml', 'board:\n  raw_files:\n    - { file: uboot:idbloader.img, sector: 64 }\n    - file: loaders/spl.bin\n      offset: 8192\n');
    const { config } = loadConfig({ configFiles: [board], env: {} });
    expect(config['board.raw_files']).toEqual([{ file: 'uboot:idbloader.img', offset: 32768 }, { file: path.join(tmp, 'loaders/spl.bin'), offset: 8192 }]);
    const user = writeConfig('raw-user.yaml', 'board:\n  raw_files: []\n');
    expect(loadConfig({ configFiles: [board, user], env: {} }).config['board.raw_files']).toEqual([]);
    expect(renderEffective(loadConfig({ configFiles: [board], env: {} }))).toMatch(/^board\.raw_files: \[\{file: uboot:idbloader\.img, offset: 32768\}, \{file: \S+\/loaders\/spl\.bin, offset: 8192\}\]\s+# \S+raw-board\.yaml:2$/m);
  });

  it('board.raw_files: an entry without exactly one place, with an unknown field, a bad uboot: name or a negative sector is refused at its line', () => {
    const problem = (entry: string) => errorOf(() => loadYamlLayer(writeConfig('raw-bad.yaml', `board:\n  raw_files:\n    - ${entry}\n`), 'raw-bad.yaml')).message;
    expect(problem('{ file: a.img }')).toMatch(/^raw-bad\.yaml:3: 'board\.raw_files' must be entries with either sector or offset \(a\.img has neither\)/);
    expect(problem('{ file: a.img, sector: 1, offset: 512 }')).toContain('(a.img has both)');
    expect(problem('{ file: a.img, sectors: 64 }')).toContain("(no 'sectors')");
    expect(problem('{ file: uboot:../../etc/passwd, sector: 64 }')).toContain('uboot:<file name> entries');
    expect(problem('{ file: a.img, sector: -1 }')).toContain('whole number of at least 0 (a.img)');
    expect(problem('{ file: a.img, sector: 1.5 }')).toContain('whole number of at least 0 (a.img)');
    expect(problem('a.img')).toContain('must be a list of { file, sector } or { file, offset } entries');
    expect(errorOf(() => loadYamlLayer(writeConfig('raw-scalar.yaml', 'board:\n  raw_files: a.img\n'), 'raw-scalar.yaml')).message).toContain('must be a list of { file, sector }');
  });

  it('parses upstream environment values (y/n, space-separated device types)', () => {
    const layer = environmentLayer({ MENDER_DEVICE_TYPE: 'rpi3 rpi4', MENDER_ENABLE_PARTUUID: 'y' });
    expect(layer.get('device.types')?.value).toEqual(['rpi3', 'rpi4']);
    expect(layer.get('storage.partuuid')?.value).toBe(true);
    expect(() => environmentLayer({ MENDER_STORAGE_TOTAL_SIZE_MB: 'lots' })).toThrow(/MENDER_STORAGE_TOTAL_SIZE_MB/);
  });
});

describe('generated config files', () => {
  const configs = path.resolve(import.meta.dirname, '../../../configs');
  it('configs/defaults.yaml and configs/schema.json match the knob table (run npm run gen:config)', () => {
    expect(fs.readFileSync(path.join(configs, 'defaults.yaml'), 'utf8')).toBe(renderDefaultsYaml());
    expect(fs.readFileSync(path.join(configs, 'schema.json'), 'utf8')).toBe(renderJsonSchema());
  });

  it('the JSON Schema describes every knob', () => {
    const schema = JSON.parse(renderJsonSchema());
    for (const key of KNOB_KEYS) {
      const [group, name] = key.split('.');
      const node = name ? schema.properties[group!].properties[name] : schema.properties[group!];
      expect(node, key).toBeDefined();
      expect(node.description).toBe(KNOBS[key].doc);
    }
  });

  it('config --print shows each value with where it came from', () => {
    const text = renderEffective(loadConfig({ configFiles: [], env: { MENDER_ARTIFACT_NAME: 'r1' } }));
    expect(text).toMatch(/^artifact\.name: r1\s+# environment MENDER_ARTIFACT_NAME$/m);
    expect(text).toMatch(/^storage\.total_size_mb: 8192\s+# configs\/defaults\.yaml:\d+$/m);
  });
});
