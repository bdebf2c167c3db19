import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLegacyConfig } from '../../../src/config/legacy.js';
import { loadConfig, PACKAGE_ROOT } from '../../../src/config/load.js';
import { renderMigration } from '../../../src/config/render.js';

// A miniature of upstream's checkout: its config paths and shapes, bodies of our own.
const CHECKOUT = path.resolve(import.meta.dirname, '../../fixtures/upstream');
const upstream = (name: string) => path.join(CHECKOUT, 'configs', name);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'upstream-test-'));
function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
const messages = (entries: { message: string }[]) => entries.map((entry) => entry.message);

describe("upstream's shipped board configs", () => {
  const boards: [string, string, string][] = [
    ['raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config', 'raspberrypi4_bookworm_64bit', 'raspberrypi4_64'],
    // sources the same files as the bookworm one: its own name decides
    ['raspberrypi/uboot/debian/raspberrypi4_trixie_64bit_config', 'raspberrypi4_trixie_64bit', 'raspberrypi4_64'],
    ['generic_x86-64_hdd_config', 'generic_x86-64', 'x86_64'],
    ['debian-qemux86-64_config', 'qemux86-64', 'qemux86-64'],
  ];

  it.each(boards)('%s migrates without problems to our %s, keeping its device type', (name, ours, deviceType) => {
    // From upstream's checkout, as mender-convert runs, and from anywhere else.
    for (const baseDir of [CHECKOUT, tmp]) {
      const result = readLegacyConfig(upstream(name), { baseDir });
      expect(result.problems).toEqual([]);
      expect(result.board).toBe(ours);
      expect(result.layer.get('device.types')?.value).toEqual([deviceType]);
      expect(messages(result.notes)).toContainEqual(expect.stringMatching(new RegExp(`^devices converted by upstream with it keep upstream's boot chain: convert the Artifacts for them with configs/include/upstream-converted-${ours.startsWith('raspberrypi') ? 'raspberrypi' : 'pc'}\\.yaml`)));
    }
  });

  it("expands upstream's defaults (${MENDER_STORAGE_URL}) and maps its functions to what our board config does", () => {
    const { notes, problems } = readLegacyConfig(upstream('raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config'), { baseDir: CHECKOUT });
    expect(problems).toEqual([]);
    expect(messages(notes).join('\n')).not.toMatch(/not set earlier/);
    for (const fn of ['check_image_bitsize', 'raspberrypi_check_requirements', 'raspberrypi_adjust_services', 'check_and_extract_asset', 'raspberrypi_update_cmdline', 'raspberrypi_64_platform_modify']) {
      expect(messages(notes)).toContainEqual(expect.stringMatching(new RegExp(`^upstream's ${fn} — done by our configs/raspberrypi4_bookworm_64bit\\.yaml: `)));
    }
    const lib64 = readLegacyConfig(upstream('generic_x86-64_hdd_config')).notes.find((note) => note.message.includes('platform_modify'));
    expect(lib64).toMatchObject({ line: 6, message: expect.stringMatching(/^upstream's platform_modify — not needed: it links \/lib64/) });
  });

  it('the RockPro64 SD config migrates to ours, its loader written by board.raw_files', () => {
    const result = readLegacyConfig(upstream('rockpro64_sd_config'), { baseDir: CHECKOUT });
    expect(result.problems).toEqual([]);
    expect(result.board).toBe('rockpro64');
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^upstream's platform_package — done by our configs\/rockpro64\.yaml: board\.raw_files writes the boot loader/));
    const { config } = loadConfig({ configFiles: [upstream('rockpro64_sd_config')], env: {} });
    expect(config['board.raw_files'].map((file) => file.offset)).toEqual([64 * 512, 16384 * 512]);
  });

  it("the RockPro64 eMMC config migrates to ours for the eMMC; upstream's vendor-kernel device name is not carried over", () => {
    const result = readLegacyConfig(upstream('rockpro64_emmc_config'), { baseDir: CHECKOUT });
    expect(result.problems).toEqual([]);
    expect(result.board).toBe('rockpro64_emmc');
    expect(result.layer.has('storage.device_base')).toBe(false);
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^MENDER_STORAGE_DEVICE_BASE=\/dev\/mmcblk1p of upstream's board config is not carried over: .*names it \/dev\/mmcblk2/));
    const { config } = loadConfig({ configFiles: [upstream('rockpro64_emmc_config')], env: {} });
    const ours = loadConfig({ configFiles: ['rockpro64_emmc'], env: {} }).config;
    expect([config['storage.device_base'], config['uboot.mmc_device']]).toEqual(['/dev/mmcblk2p', 0]);
    expect(config).toEqual(ours);
  });

  it("upstream's image config for its Raspberry Pi OS images migrates on top of a board config; its apt function is not needed", () => {
    const file = write('rpi-image_config', `source ${upstream('raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config')}\nsource ${upstream('images/raspberrypi_raspbian_config')}\n`);
    const result = readLegacyConfig(file);
    expect(result.problems).toEqual([]);
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^upstream's apt_allow_release_change_suite — not needed: .*by default since 2\.1\.10/));
    const { config } = loadConfig({ configFiles: [file], env: {} });
    expect([config['storage.total_size_mb'], config['rootfs.size_kb'], config['image.compression'], config['client.install']]).toEqual([7534, -1, 'xz', false]);
  });

  it('--migrate writes YAML that includes our board config and loads to what -c of the upstream config gives', () => {
    const file = upstream('raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config');
    const text = renderMigration(file, readLegacyConfig(file));
    expect(text).not.toContain('NOT MIGRATED');
    expect(text).toMatch(/^include:\n {2}- raspberrypi4_bookworm_64bit\.yaml$/m);
    const migrated = loadConfig({ configFiles: [write('migrated/rpi4.yaml', text)], env: {} }).config;
    const direct = loadConfig({ configFiles: [file], env: {} }).config;
    const ours = loadConfig({ configFiles: ['raspberrypi4_bookworm_64bit'], env: {} }).config;
    expect(migrated).toEqual(direct);
    expect(direct['board.hooks']).toEqual([path.join(PACKAGE_ROOT, 'board-integrations/raspberrypi/integration.ts')]);
    expect(direct['board.os_codenames']).toEqual(['bookworm']);
    expect(direct['device.types']).toEqual(['raspberrypi4_64']);
    expect({ ...direct, 'device.types': ours['device.types'], 'boot.mountpoint': ours['boot.mountpoint'] }).toEqual(ours);
  });

  it('a bullseye board config migrates to our bookworm config for the board, saying what differs; a bullseye image is then refused with what to do', () => {
    const file = upstream('raspberrypi/uboot/debian/raspberrypi4_bullseye_64bit_config');
    const result = readLegacyConfig(file, { baseDir: CHECKOUT });
    expect(result.problems).toEqual([]);
    expect(result.board).toBe('raspberrypi4_bookworm_64bit');
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^what differs: upstream's config converts Raspberry Pi OS bullseye images .*ours converts bookworm ones for the same board and device type/));
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^upstream's fixup_boot_part_path_references — not needed: .*\/boot\/firmware/));
    const text = renderMigration(file, result);
    expect(text).not.toContain('NOT MIGRATED');
    const migrated = loadConfig({ configFiles: [write('migrated/bullseye.yaml', text)], env: {} }).config;
    expect(migrated).toEqual(loadConfig({ configFiles: ['raspberrypi4_bookworm_64bit'], env: {} }).config);
  });

  it("the Ubuntu 32-bit Raspberry Pi 4 config migrates to ours for Ubuntu's layout, saying what differs", () => {
    const file = upstream('raspberrypi/uboot/ubuntu/raspberrypi4_ubuntu_32bit_config');
    const result = readLegacyConfig(file, { baseDir: CHECKOUT });
    expect(result.problems).toEqual([]);
    expect(result.board).toBe('raspberrypi4_ubuntu_32bit');
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^what differs: upstream copies the boot partition's vmlinuz .*linux-image-raspi/));
    const text = renderMigration(file, result);
    expect(text).not.toContain('NOT MIGRATED');
    const migrated = loadConfig({ configFiles: [write('migrated/ubuntu.yaml', text)], env: {} }).config;
    const ours = loadConfig({ configFiles: ['raspberrypi4_ubuntu_32bit'], env: {} }).config;
    expect(migrated).toEqual(ours);
    expect([ours['board.arch'], ours['board.os_codenames'], ours['uboot.kernel_source'], ours['device.types']]).toEqual(['armhf', ['jammy', 'noble'], '', ['raspberrypi4']]);
  });

  it('the COMFILE Pi config migrates to ours (the firmware switches the backlight on); the Raspberry Pi 3 config it sources, gone upstream, is named', () => {
    const file = upstream('comfile_pi_config');
    const result = readLegacyConfig(file, { baseDir: CHECKOUT });
    expect(result.problems).toEqual([]);
    expect(result.board).toBe('comfile_pi');
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^sourced file 'configs\/raspberrypi3_config' not read: .*no longer ships.*configs\/raspberrypi3_bookworm_32bit\.yaml/));
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^upstream's enable_lcd_backlight_comfile_pi — done by our configs\/comfile_pi\.yaml: .*gpio=34=op,dh/));
    const migrated = loadConfig({ configFiles: [write('migrated/comfile.yaml', renderMigration(file, result))], env: {} }).config;
    const ours = loadConfig({ configFiles: ['comfile_pi'], env: {} }).config;
    expect(migrated).toEqual({ ...ours, 'storage.total_size_mb': 14000 });
    expect(ours['board.hooks'].map((hook) => path.relative(PACKAGE_ROOT, hook))).toEqual(['board-integrations/raspberrypi/integration.ts', 'board-integrations/comfile-pi/integration.ts']);
  });

  it("upstream's pre-bookworm include sourced by the user's config is read; its function is not needed", () => {
    const file = write('bullseye_config', `MENDER_DEVICE_TYPE=x\nsource ${upstream('raspberrypi/include/pre_bookworm_config')}\n`);
    const result = readLegacyConfig(file);
    expect(result.problems).toEqual([]);
    expect(messages(result.notes)).toContainEqual(expect.stringMatching(/^upstream's fixup_boot_part_path_references — not needed/));
  });
});

describe("a user's config on top of upstream's", () => {
  it("reports the user's own functions and hook entries with their line and the hook list to use; upstream's are not reported", () => {
    const file = write(
      'my_config',
      [
        'source configs/raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config',
        'MENDER_STORAGE_TOTAL_SIZE_MB=16384',
        'function enable_ssh() {',
        '    touch work/boot/ssh',
        '}',
        'PLATFORM_MODIFY_HOOKS+=(enable_ssh)',
        'platform_package() {',
        '    :',
        '}',
        '',
      ].join('\n'),
    );
    const { problems, board, layer } = readLegacyConfig(file, { baseDir: CHECKOUT });
    expect(board).toBe('raspberrypi4_bookworm_64bit');
    expect(layer.get('storage.total_size_mb')?.value).toBe(16384);
    expect(problems.map((p) => [p.file, p.line, p.message])).toEqual([
      [file, 3, expect.stringMatching(/^bash function 'enable_ssh' is not run; write what it does as a hook/)],
      [file, 6, expect.stringMatching(/^PLATFORM_MODIFY_HOOKS: 'enable_ssh' is a bash function, not run; write it as hooks under hooks\.modify/)],
      [file, 7, expect.stringMatching(/^bash function 'platform_package' is not run; upstream runs it at its platform_package step: write it as a hook under hooks\.package/)],
    ]);
  });

  it("changing a variable that upstream's board functions read is reported with our setting for it", () => {
    const file = write('kernel_config', 'source configs/raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config\nRASPBERRYPI_KERNEL_IMAGE="kernel_custom.img"\n');
    expect(readLegacyConfig(file, { baseDir: CHECKOUT }).problems).toEqual([
      { file, line: 2, message: expect.stringMatching(/^RASPBERRYPI_KERNEL_IMAGE: .* set uboot\.kernel_source/) },
    ]);
  });

  it("upstream's files without a board of their own: their functions need our board config", () => {
    const { problems, board } = readLegacyConfig(upstream('raspberrypi/uboot/include/raspberrypi_64_config'), { baseDir: CHECKOUT });
    expect(board).toBeUndefined();
    expect(messages(problems)).toContainEqual(expect.stringMatching(/^upstream's raspberrypi_64_platform_modify is done by our board configs .* include the one for the board \(configs\/raspberrypi\*\.yaml\)/));
  });

  it('a shipped upstream file that is not there: where it was looked for, and our config instead', () => {
    const file = write('elsewhere/config', 'source configs/raspberrypi/uboot/include/raspberrypi4_64_config\n');
    expect(messages(readLegacyConfig(file, { baseDir: tmp }).problems)).toEqual([
      expect.stringMatching(/^sourced file 'configs\/raspberrypi\/uboot\/include\/raspberrypi4_64_config' not found .*run from upstream's checkout, as mender-convert does, or write include: \[raspberrypi4_bookworm_64bit\.yaml\]/),
    ]);
  });

  it("upstream's defaults are known (no 'not set'); upstream's shell libraries are not read", () => {
    const file = write('defaults_config', 'MY_MIRROR="${MENDER_STORAGE_URL}/x"\nMY_ORG="${MENDER_GITHUB_ORG}/y"\nMENDER_DATA_PART_FSTAB_OPTS+=",noatime"\nsource modules/probe.sh\n');
    const { problems, notes, layer } = readLegacyConfig(file, { baseDir: CHECKOUT });
    expect(problems).toEqual([]);
    expect(layer.get('data.fstab_opts')?.value).toBe('defaults,noatime');
    expect(messages(notes)).toContainEqual(expect.stringMatching(/^modules\/probe\.sh is upstream's shell library/));
  });
});

describe('client versions carry over', () => {
  it("a pinned client version switches client.source to Mender's repository", () => {
    const { layer, notes } = readLegacyConfig(write('client_config', 'MENDER_CLIENT_VERSION="4.0.4"\n'));
    expect(layer.get('client.version')?.value).toBe('4.0.4');
    expect(layer.get('client.source')?.value).toBe('mender');
    expect(notes).toContainEqual({ file: path.join(tmp, 'client_config'), line: 1, message: expect.stringMatching(/^MENDER_CLIENT_VERSION=4\.0\.4: client\.source: mender/) });
  });

  it('pinned add-on versions carry over, and switch the source when the add-on is installed', () => {
    const installed = readLegacyConfig(write('connect_config', 'MENDER_ADDON_CONNECT_INSTALL=y\nMENDER_ADDON_CONNECT_VERSION=2.2\nMENDER_ADDON_CONFIGURE_VERSION=1.1.0\n')).layer;
    expect(installed.get('client.connect_version')?.value).toBe('2.2');
    expect(installed.get('client.configure_version')?.value).toBe('1.1.0');
    expect(installed.get('client.source')?.value).toBe('mender');
    const notInstalled = readLegacyConfig(write('configure_config', 'MENDER_ADDON_CONFIGURE_VERSION=1.1.0\n')).layer;
    expect(notInstalled.get('client.source')).toBeUndefined();
  });

  it('latest or auto keep our default source, and say what upstream installs instead', () => {
    const { layer, notes } = readLegacyConfig(write('latest_config', 'MENDER_CLIENT_VERSION=latest\nMENDER_ADDON_CONNECT_INSTALL=y\n'));
    expect(layer.get('client.source')).toBeUndefined();
    expect(messages(notes)).toContainEqual(expect.stringMatching(/^upstream installs the client from Mender's repository/));
  });

  it('versions we cannot pin are refused, not dropped', () => {
    const { problems } = readLegacyConfig(write('setup_config', 'MENDER_SETUP_VERSION=1.0.0\nMENDER_CLIENT_VERSION=master\n'));
    expect(messages(problems)).toEqual([
      expect.stringMatching(/^MENDER_SETUP_VERSION=1\.0\.0 is not supported: mender-setup is installed at its newest/),
      expect.stringMatching(/^MENDER_CLIENT_VERSION: 'client\.version' must be auto, latest, x\.y or x\.y\.z/),
    ]);
  });
});
