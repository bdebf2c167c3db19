/**
 * Facts about upstream mender-convert's own config files, for reading configs written for it:
 * the defaults it reads before every config, and its shipped board configs and the functions in
 * them, each mapped to what this tool does instead (our config for that board, by name).
 */

/**
 * The variables upstream sets before any config (configs/mender_convert_config and the
 * mender_grub_config it sources), as they are after it: configs refer to them, e.g.
 * "${MENDER_STORAGE_URL}/mender-convert/uboot/…".
 */
export const UPSTREAM_DEFAULTS: Readonly<Record<string, string>> = {
  MENDER_COMPRESS_DISK_IMAGE: 'gzip',
  MENDER_ARTIFACT_COMPRESSION: 'gzip',
  MENDER_ENABLE_SYSTEMD: 'y',
  MENDER_BOOT_PART_FSTAB_OPTS: 'defaults,sync',
  MENDER_ROOT_PART_MKFS_OPTS: '',
  MENDER_ROOT_PART_FSTAB_OPTS: 'defaults',
  MENDER_ROOT_PART_FS_PASSNO: '1',
  MENDER_DATA_PART_FSTAB_OPTS: 'defaults',
  MENDER_DATA_PART_MKFS_OPTS: '',
  MENDER_DATA_PART_GROWFS: 'y',
  MENDER_DEVICE_TYPE: '',
  DEPLOY_IMAGE_NAME: '',
  MENDER_PARTITION_SCHEME: '',
  MENDER_STORAGE_TOTAL_SIZE_MB: '8192',
  MENDER_BOOT_PART_SIZE_MB: '40',
  MENDER_DATA_PART_SIZE_MB: '128',
  MENDER_PARTITION_ALIGNMENT: '8388608',
  MENDER_CLIENT_INSTALL: 'y',
  MENDER_CLIENT_VERSION: 'auto',
  MENDER_FLASH_VERSION: 'latest',
  MENDER_ADDON_CONNECT_INSTALL: 'n',
  MENDER_ADDON_CONNECT_VERSION: 'latest',
  MENDER_ADDON_CONFIGURE_INSTALL: 'n',
  MENDER_ADDON_CONFIGURE_VERSION: 'latest',
  MENDER_DOCKER_COMPOSE_INSTALL: 'n',
  MENDER_DOCKER_COMPOSE_VERSION: 'latest',
  MENDER_INSTALL_INPUT_PACKAGES_PATH: 'input/deb',
  MENDER_INSTALL_INPUT_PACKAGES: 'n',
  MENDER_SETUP_INSTALL: 'auto',
  MENDER_SETUP_VERSION: 'latest',
  MENDER_SNAPSHOT_INSTALL: 'auto',
  MENDER_SNAPSHOT_VERSION: 'latest',
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_INSTALL: 'y',
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_VERSION: 'latest',
  MENDER_SPARSE_IMAGE: 'n',
  MENDER_STORAGE_URL: 'https://downloads.mender.io',
  MENDER_APT_REPO_URL: 'https://downloads.mender.io/repos/device-components',
  MENDER_APT_KEY_URL: 'https://downloads.mender.io/repos/debian/gpg',
  MENDER_APT_KEY_FP: 'E6C857345575F9218396566224072B80A1B29B00',
  MENDER_GITHUB_ORG: 'https://github.com/mendersoftware',
  MENDER_STORAGE_DEVICE_BASE: '/dev/mmcblk0p',
  MENDER_BOOT_PART_NUMBER: '1',
  MENDER_ROOTFS_PART_A_NUMBER: '2',
  MENDER_ROOTFS_PART_B_NUMBER: '3',
  MENDER_DATA_PART_NUMBER: '4',
  MENDER_ENABLE_PARTUUID: 'n',
  MENDER_BOOT_PART: '',
  MENDER_ROOTFS_PART_A: '',
  MENDER_ROOTFS_PART_B: '',
  MENDER_DATA_PART: '',
  MENDER_DTB_NAME: 'kernel.dtb',
  MENDER_USE_BMAP: 'n',
  MENDER_COPY_BOOT_GAP: 'y',
  IMAGE_ROOTFS_SIZE: '0',
  IMAGE_ROOTFS_EXTRA_SPACE: '0',
  IMAGE_OVERHEAD_FACTOR: '1.5',
  MENDER_EXPAND_WORK_ROOTFS: '',
  MENDER_GRUB_EFI_INTEGRATION: 'y',
  MENDER_GRUB_D_INTEGRATION: 'auto',
  GRUB_VERSION: '2.12',
  MENDER_GRUB_KERNEL_BOOT_ARGS: '',
  MENDER_GRUB_KERNEL_IMAGETYPE: '',
  MENDER_GRUB_INITRD_IMAGETYPE: '',
  MENDER_IGNORE_UBOOT_BROKEN_UEFI: '0',
  MENDER_IGNORE_MISSING_EFI_STUB: '0',
};

/** What one of upstream's functions is to us: done by our board config, or not needed. */
export type UpstreamFunction = { done: string } | { needless: string };

/** One of upstream's shipped config files. */
export interface UpstreamFile {
  /** Its path in upstream's checkout (files are recognised by this path's ending). */
  path: string;
  /** Our config (configs/<name>.yaml) for the board it is for. */
  ours?: string;
  /** Why it cannot be carried over and what to do instead; such a file is not read. */
  refused?: string;
  /** What our config for its board does otherwise than it (said when migrating it). */
  differs?: string;
  /** A file upstream no longer ships but its configs still source: what it was, instead of "not found". */
  removed?: string;
  /** Upstream's defaults, which are read first anyway: not read again. */
  defaults?: true;
  /** Its functions, by name. */
  functions?: Readonly<Record<string, UpstreamFunction>>;
  /** Variables it sets that our config sets otherwise, and why: not carried over. */
  replaced?: Readonly<Record<string, string>>;
}

/** What our config for a bullseye board config's board does otherwise (said when migrating it). */
const BULLSEYE =
  "upstream's config converts Raspberry Pi OS bullseye images (Debian 11, out of support since August 2026); ours converts bookworm ones for the same board and device type, and refuses a bullseye image. Convert a bookworm golden image with it: its Artifacts install on the devices converted from bullseye by upstream as well (add configs/include/upstream-converted-raspberrypi.yaml for them)";
const RPI_UEFI =
  'the Raspberry Pi 4 UEFI boot is not supported: upstream downloads the community UEFI firmware (RPI_UEFI_FIRMWARE_URL) onto the boot partition and installs grub-efi and its own package in the image (rpi_uefi_platform_pre_modify), which nothing here does; configs/generic_arm64_uefi.yaml is only the GRUB side. Use configs/raspberrypi4_bookworm_64bit.yaml (U-Boot) for new devices; devices converted with UEFI (device type raspberrypi4_64_uefi) boot GRUB and cannot take its Artifacts';
const ROCKPRO64_FUNCTIONS: Readonly<Record<string, UpstreamFunction>> = {
  platform_modify: { done: "boot.scr and /etc/fw_env.config are written by the U-Boot integration (Debian's u-boot-rockchip instead of Mender's 2017.09 binaries archive); the root filesystem is not resized at boot (the data partition grows instead)" },
  platform_package: { done: 'board.raw_files writes the boot loader at its sectors (idbloader.img at 64, u-boot.itb at 16384, from u-boot-rockchip)' },
};

/** The check functions of configs/raspberrypi/include/common_config. */
const RASPBERRYPI_CHECKS: Record<string, UpstreamFunction> = {
  check_image_os_id: { done: 'board.os_codenames: an image of another release is refused' },
  check_image_os_version_greater_than: { done: 'board.os_codenames: an image of another release is refused' },
  check_image_os_version_less_than: { done: 'board.os_codenames: an image of another release is refused' },
  check_image_bitsize: { done: 'board.arch: a 32-bit image for a 64-bit config, or the other way round, is refused' },
  raspberrypi_check_requirements: { done: 'board.arch and board.os_codenames: an image of another bit width or release is refused, naming the config to use' },
  raspberrypi_adjust_services: { done: 'its board integration masks udisks2 and removes resize2fs_once' },
};

const PLATFORM_MODIFY = {
  done: 'bootloader.type uboot and its board integration (board-integrations/raspberrypi) do every step of it: the functions above',
};

export const UPSTREAM_FILES: readonly UpstreamFile[] = [
  { path: 'configs/mender_convert_config', defaults: true },
  { path: 'configs/mender_grub_config', defaults: true },
  { path: 'configs/systemd_common_config', defaults: true },

  { path: 'configs/raspberrypi/uboot/debian/raspberrypi3_bookworm_32bit_config', ours: 'raspberrypi3_bookworm_32bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi3_bookworm_64bit_config', ours: 'raspberrypi3_bookworm_64bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi4_bookworm_32bit_config', ours: 'raspberrypi4_bookworm_32bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi4_bookworm_64bit_config', ours: 'raspberrypi4_bookworm_64bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi4_trixie_64bit_config', ours: 'raspberrypi4_trixie_64bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi5_bookworm_64bit_config', ours: 'raspberrypi5_bookworm_64bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi5_trixie_64bit_config', ours: 'raspberrypi5_trixie_64bit' },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi3_bullseye_32bit_config', ours: 'raspberrypi3_bookworm_32bit', differs: BULLSEYE },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi3_bullseye_64bit_config', ours: 'raspberrypi3_bookworm_64bit', differs: BULLSEYE },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi4_bullseye_32bit_config', ours: 'raspberrypi4_bookworm_32bit', differs: BULLSEYE },
  { path: 'configs/raspberrypi/uboot/debian/raspberrypi4_bullseye_64bit_config', ours: 'raspberrypi4_bookworm_64bit', differs: BULLSEYE },
  {
    path: 'configs/raspberrypi/include/pre_bookworm_config',
    functions: {
      fixup_boot_part_path_references: {
        needless: "it points the /boot paths of Raspberry Pi OS's services and first-boot scripts at upstream's /uboot; from bookworm on they name /boot/firmware, where the boot partition stays mounted here",
      },
    },
  },
  { path: 'configs/raspberrypi/uboot/raspberrypi0w_config', ours: 'raspberrypi0w' },
  {
    path: 'configs/raspberrypi/uboot/ubuntu/raspberrypi4_ubuntu_32bit_config',
    ours: 'raspberrypi4_ubuntu_32bit',
    differs:
      "upstream copies the boot partition's vmlinuz into the root filesystem once (RASPBERRYPI_KERNEL_IMAGE); ours loads the root filesystem's newest /boot/vmlinuz-*-raspi and its initrd — the kernel flash-kernel copies to the boot partition — and its kernel hooks keep them so when linux-image-raspi is upgraded",
  },
  { path: 'configs/raspberrypi/uefi/debian/raspberrypi4_bookworm_64bit_config', refused: RPI_UEFI },
  { path: 'configs/raspberrypi/uefi/include/raspberrypi4_64_config', refused: RPI_UEFI },
  { path: 'configs/raspberrypi/uefi/include/common_config', refused: RPI_UEFI },
  { path: 'configs/raspberrypi/uefi/include/bookworm_config', refused: RPI_UEFI },

  // Included by the board configs above: the Raspberry Pi integration as functions.
  { path: 'configs/raspberrypi/uboot/include/bookworm_config' },
  { path: 'configs/raspberrypi/uboot/include/raspberrypi3_config', ours: 'raspberrypi3_bookworm_32bit' },
  { path: 'configs/raspberrypi/uboot/include/raspberrypi3_64_config', ours: 'raspberrypi3_bookworm_64bit' },
  { path: 'configs/raspberrypi/uboot/include/raspberrypi4_config', ours: 'raspberrypi4_bookworm_32bit' },
  { path: 'configs/raspberrypi/uboot/include/raspberrypi4_64_config', ours: 'raspberrypi4_bookworm_64bit' },
  {
    path: 'configs/raspberrypi/uboot/include/raspberrypi5_64_config',
    ours: 'raspberrypi5_bookworm_64bit',
    functions: {
      log_boot_delay_warning: { needless: "it warns about Mender's own Raspberry Pi 5 U-Boot build (CONFIG_BOOTDELAY=-2); ours is Debian's (uboot.source)" },
    },
  },
  { path: 'configs/raspberrypi/include/common_config', functions: RASPBERRYPI_CHECKS },
  {
    path: 'configs/raspberrypi/uboot/include/common_config',
    functions: {
      check_and_extract_asset: { done: "U-Boot comes from uboot.source (Debian's u-boot-rpi for the board, signature and checksum checked) instead of Mender's binaries archive" },
      raspberrypi_update_cmdline: { done: 'cmdline.txt (or btcmd.txt) takes root=${mender_kernel_root} and loses the first-boot resize (init=…init_resize.sh); its other arguments are kept' },
      raspberrypi_generic_bootloader_setup: { done: "the device trees are copied into each root filesystem's /boot, config.txt gets enable_uart=1, fw_printenv/fw_setenv come with libubootenv-tool" },
    },
  },
  {
    path: 'configs/raspberrypi/uboot/include/raspberrypi_32_config',
    functions: {
      raspberrypi_32_setup_bootloader_and_kernel: { done: 'the kernel (uboot.kernel_source) is kept in each root filesystem as /boot/zImage, config.txt starts U-Boot (kernel=, arm_64bit=0), boot.scr and /etc/fw_env.config are written' },
      raspberrypi_32_platform_modify: PLATFORM_MODIFY,
    },
  },
  {
    path: 'configs/raspberrypi/uboot/include/raspberrypi_64_config',
    functions: {
      raspberrypi_64_setup_bootloader_and_kernel: { done: "the kernel (uboot.kernel_source) is kept decompressed in each root filesystem's /boot (uboot.kernel_image), config.txt starts U-Boot, boot.scr and /etc/fw_env.config are written" },
      raspberrypi_64_platform_modify: PLATFORM_MODIFY,
    },
  },
  {
    path: 'configs/comfile_pi_config',
    ours: 'comfile_pi',
    functions: {
      enable_lcd_backlight_comfile_pi: { done: "its board integration (board-integrations/comfile-pi) has the firmware drive GPIO 34, the LCD backlight, high before U-Boot starts (config.txt gpio=34=op,dh) where upstream's own boot script ran gpio set 34" },
    },
  },
  {
    path: 'configs/raspberrypi3_config',
    removed: "upstream's Raspberry Pi 3 config from before its configs/raspberrypi/ tree, which it no longer ships (its comfile_pi_config fails there for it); its board is our configs/raspberrypi3_bookworm_32bit.yaml",
  },

  // Not a board's: what Mender's published Raspberry Pi OS images were converted with, on top of a board config.
  {
    path: 'configs/images/raspberrypi_raspbian_config',
    functions: {
      apt_allow_release_change_suite: { needless: 'it lets apt accept a repository whose Release changes its Suite (stable to oldstable), which apt does by default since 2.1.10 (bookworm has 2.6)' },
    },
  },
  { path: 'configs/debian-qemux86-64_config', ours: 'qemux86-64' },
  { path: 'configs/ubuntu-qemux86-64_config', ours: 'qemux86-64' },
  {
    path: 'configs/generic_x86-64_hdd_config',
    ours: 'generic_x86-64',
    functions: {
      platform_modify: { needless: "it links /lib64 to /lib where the root filesystem has none; a Debian-family amd64 root filesystem has /lib64 (libc6's program loader, ld-linux-x86-64.so.2, is there), and nothing we install needs more" },
    },
  },
  { path: 'configs/rockpro64_config', ours: 'rockpro64', functions: ROCKPRO64_FUNCTIONS },
  { path: 'configs/rockpro64_sd_config', ours: 'rockpro64' },
  {
    path: 'configs/rockpro64_emmc_config',
    ours: 'rockpro64_emmc',
    replaced: {
      MENDER_STORAGE_DEVICE_BASE:
        "/dev/mmcblk1p names the eMMC only under kernels older than the board's mainline device tree with its mmc aliases (upstream's boot loader is from 2017); Debian's kernel, which every root filesystem brings, names it /dev/mmcblk2 (mmc0 is the SDIO Wi-Fi, mmc1 the SD card): configs/rockpro64_emmc.yaml sets storage.device_base /dev/mmcblk2p and U-Boot's mmc 0",
    },
  },
];

/** The shipped upstream file a path is (by its ending: upstream's checkout can be anywhere). */
export function upstreamFile(file: string): UpstreamFile | undefined {
  const normal = file.split('\\').join('/');
  return UPSTREAM_FILES.find((known) => normal === known.path || normal.endsWith(`/${known.path}`));
}

/** Our configs that do what the functions of upstream's files without a board of their own do (all Raspberry Pi). */
export const RASPBERRYPI_CONFIGS = 'configs/raspberrypi*.yaml';

/** Upstream's shell libraries (modules/*.sh), which configs source for their functions. */
export function isUpstreamModule(target: string): boolean {
  return /(^|\/)modules\/[\w-]+\.sh$/.test(target);
}

/** Upstream's hook arrays and the hook list of ours that runs at the same point. */
export const HOOK_ARRAYS: Readonly<Record<string, string>> = {
  PLATFORM_PRE_MODIFY_HOOKS: 'hooks.pre_modify',
  PLATFORM_MODIFY_HOOKS: 'hooks.modify',
  USER_LOCAL_MODIFY_HOOKS: 'hooks.modify',
  OVERLAY_MODIFY_HOOKS: 'hooks.post_modify',
  PLATFORM_PACKAGE_HOOKS: 'hooks.package',
};

/** Upstream's default hook functions (a config overrides them by defining one) and where ours run. */
export const HOOK_FUNCTIONS: Readonly<Record<string, string>> = {
  platform_pre_modify: 'hooks.pre_modify',
  platform_modify: 'hooks.modify',
  user_local_modify: 'hooks.modify',
  overlay_modify: 'hooks.post_modify',
  platform_package: 'hooks.package',
};
