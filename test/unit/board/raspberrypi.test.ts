import { describe, expect, it } from 'vitest';
import { BACKLIGHT_LINE, backlightConfigTxt } from '../../../board-integrations/comfile-pi/integration.js';
import { BLOCK_BEGIN, imagerFirstrunUnit, menderCmdline, menderConfigTxt, raspiFirmwareDefaults } from '../../../board-integrations/raspberrypi/integration.js';

describe('Raspberry Pi config.txt', () => {
  it('keeps every line and ends with an [all] section that starts U-Boot', () => {
    const original = '# golden\ndtparam=audio=on\n[pi4]\narm_boost=1\nkernel=kernel8.img\n\n\n';
    const edited = menderConfigTxt(original, 'u-boot.bin', true);
    expect(edited).toBe('# golden\ndtparam=audio=on\n[pi4]\narm_boost=1\nkernel=kernel8.img\n\n# mender-convert: the firmware starts U-Boot, which boots the active root filesystem (A/B).\n[all]\nkernel=u-boot.bin\nenable_uart=1\narm_64bit=1\n# mender-convert: end\n');
    expect(menderConfigTxt('', 'u-boot.bin', false)).toMatch(/^# mender-convert[^\n]*\n\[all\]\nkernel=u-boot\.bin\nenable_uart=1\narm_64bit=0\n# mender-convert: end\n$/);
    // Applied again (a package rewrote the file around it), the block is replaced, not repeated.
    expect(menderConfigTxt(`${edited}gpu_mem=64\n`, 'u-boot.bin', true)).toBe(edited.replace('kernel=kernel8.img\n', 'kernel=kernel8.img\n\ngpu_mem=64\n'));
    expect(menderConfigTxt(edited, 'u-boot.bin', true)).toBe(edited);
  });
});

describe('Raspberry Pi cmdline.txt', () => {
  it('takes root= from the U-Boot environment and drops the first-boot resize', () => {
    expect(menderCmdline('console=serial0,115200 root=PARTUUID=abcd-02 rootwait init=/usr/lib/raspi-config/init_resize.sh\n')).toBe('console=serial0,115200 root=${mender_kernel_root} rootwait\n');
    expect(menderCmdline('root=/dev/mmcblk0p2 quiet init=/usr/lib/raspberrypi-sys-mods/firstboot splash')).toBe('root=${mender_kernel_root} quiet splash\n');
    // Another init= is the user's and stays; a missing root= is added.
    expect(menderCmdline('console=tty1 init=/bin/systemd')).toBe('console=tty1 init=/bin/systemd root=${mender_kernel_root}\n');
  });
});

describe('/etc/default/raspi-firmware', () => {
  it('ends with settings that start U-Boot and keep the Mender root=, replaced when applied again', () => {
    const original = '# Note that modifying this file\n#KERNEL="auto"\nCMA=128M\n';
    const edited = raspiFirmwareDefaults(original, 'u-boot.bin');
    expect(edited.startsWith(original)).toBe(true);
    expect(edited).toMatch(/\nKERNEL=u-boot\.bin\nINITRAMFS=no\nROOTPART='\$\{mender_kernel_root\}'\n# mender-convert: end\n$/);
    expect(raspiFirmwareDefaults(edited, 'u-boot.bin')).toBe(edited);
  });
});

describe("Raspberry Pi Imager's firstrun.sh", () => {
  it('is prepared once the boot partition is mounted, before systemd runs it', () => {
    const unit = imagerFirstrunUnit('/boot/firmware');
    expect(unit).toContain('RequiresMountsFor=/boot/firmware\n');
    expect(unit).toContain('Before=sysinit.target kernel-command-line.service\n');
    expect(unit).toContain('ConditionPathExists=/boot/firmware/firstrun.sh\n');
  });
});

describe('COMFILE Pi config.txt', () => {
  it('drives GPIO 34 (the backlight) high in an [all] section before the Mender block, once', () => {
    const menderTxt = menderConfigTxt('dtparam=audio=on\n[pi4]\narm_boost=1\n', 'u-boot.bin', false);
    const edited = backlightConfigTxt(menderTxt);
    expect(edited).toBe(menderTxt.replace(`\n${BLOCK_BEGIN}`, `\n[all]\n# COMFILE Pi: the LCD backlight (GPIO 34) on from power-up\n${BACKLIGHT_LINE}\n\n${BLOCK_BEGIN}`));
    expect(backlightConfigTxt(edited)).toBe(edited);
    // The Mender block applied again on the device (boot-files.sh) keeps the line, which is outside it.
    expect(menderConfigTxt(edited, 'u-boot.bin', false)).toContain(`\n${BACKLIGHT_LINE}\n`);
    expect(menderConfigTxt(edited, 'u-boot.bin', false).endsWith('arm_64bit=0\n# mender-convert: end\n')).toBe(true);
  });
});
