# Uproll A/B boot script for U-Boot (compile: mkimage -A arm64 -T script -C none -d boot.cmd boot.scr;
# install as /boot/boot.scr in both slots; the default environment is env.txt beside this file).
#
# Boot counting is U-Boot's own (CONFIG_BOOTCOUNT_LIMIT + CONFIG_BOOTCOUNT_ENV): while
# upgrade_available=1, U-Boot adds one to bootcount before running bootcmd, and once bootcount
# exceeds bootlimit it runs altbootcmd instead, which flips uproll_slot back to the other slot,
# clears upgrade_available and saves the environment. The Uproll agent arms a trial with
# uproll_slot=<new> upgrade_available=1 bootcount=0 bootlimit=1 (one write, fw_setenv -s) and
# commits with upgrade_available=0 bootcount=0. test/helpers/uboot-bootloader.ts mirrors this
# logic step for step; change both together.

if test "${uproll_slot}" != b; then setenv uproll_slot a; fi
if test "${uproll_slot}" = b; then
  setenv uproll_part ${uproll_part_b}
  setenv uproll_root ${uproll_root_b}
else
  setenv uproll_part ${uproll_part_a}
  setenv uproll_root ${uproll_root_a}
fi

# The agent learns which slot booted from uproll.slot= (and root=) on the kernel command line.
setenv bootargs "${bootargs} root=${uproll_root} uproll.slot=${uproll_slot} rootwait ro"
load ${uproll_dev}:${uproll_part} ${kernel_addr_r} /boot/Image
load ${uproll_dev}:${uproll_part} ${fdt_addr_r} /boot/${fdtfile}
booti ${kernel_addr_r} - ${fdt_addr_r}

# booti returns only on failure: reset, so that U-Boot counts the boot and falls back when it must.
reset
