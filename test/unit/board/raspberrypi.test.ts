import { describe, expect, it } from 'vitest';
import { menderCmdline, menderConfigTxt } from '../../../board-integrations/raspberrypi/integration.js';

describe('Raspberry Pi config.txt', () => {
  it('keeps every line and ends with an [all] section that starts U-Boot', () => {
    const original = '# golden\ndtparam=audio=on\n[pi4]\narm_boost=1\nkernel=kernel8.img\n\n\n';
    const edited = menderConfigTxt(original, 'u-boot.bin', true);
    expect(edited).toBe('# golden\ndtparam=audio=on\n[pi4]\narm_boost=1\nkernel=kernel8.img\n\n# mender-convert: the firmware starts U-Boot, which boots the active root filesystem (A/B).\n[all]\nkernel=u-boot.bin\nenable_uart=1\narm_64bit=1\n');
    expect(menderConfigTxt('', 'u-boot.bin', false)).toMatch(/^# mender-convert[^\n]*\n\[all\]\nkernel=u-boot\.bin\nenable_uart=1\narm_64bit=0\n$/);
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
