import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';

/**
 * The device types upstream mender-convert 5.x's shipped board configs give (MENDER_DEVICE_TYPE
 * in configs/raspberrypi/uboot/include/*_config, configs/*qemux86-64_config and
 * generic_x86-64_hdd_config): an Artifact installs only on a device whose type it names, so our
 * board configs use the same ones.
 */
const UPSTREAM_DEVICE_TYPES: Record<string, string> = {
  raspberrypi3_bookworm_32bit: 'raspberrypi3',
  raspberrypi3_bookworm_64bit: 'raspberrypi3_64',
  raspberrypi3_trixie_32bit: 'raspberrypi3',
  raspberrypi3_trixie_64bit: 'raspberrypi3_64',
  raspberrypi4_bookworm_32bit: 'raspberrypi4',
  raspberrypi4_bookworm_64bit: 'raspberrypi4_64',
  raspberrypi4_trixie_32bit: 'raspberrypi4',
  raspberrypi4_ubuntu_32bit: 'raspberrypi4',
  raspberrypi4_trixie_64bit: 'raspberrypi4_64',
  raspberrypi5_bookworm_64bit: 'raspberrypi5_64',
  raspberrypi5_trixie_64bit: 'raspberrypi5_64',
  raspberrypi0w: 'raspberrypi0w',
  comfile_pi: 'raspberrypi3',
  'qemux86-64': 'qemux86-64',
  'generic_x86-64': 'x86_64',
};

describe("our board configs' device types", () => {
  it.each(Object.entries(UPSTREAM_DEVICE_TYPES))('configs/%s.yaml gives upstream\'s %s', (name, deviceType) => {
    const { config } = loadConfig({ configFiles: [path.resolve(import.meta.dirname, '../../../configs', `${name}.yaml`)], env: {} });
    expect(config['device.types']).toEqual([deviceType]);
  });
});
