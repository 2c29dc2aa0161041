#!/bin/sh
# /init of the diagnostic and erase image: mount the kernel's file systems, load the
# drivers the PC's devices ask for, bring up the NIC the PC booted from (garage_pxe.mac)
# with DHCP, run the agent, then wait for the person at the bench.
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /run
# Drivers for every device present on any bus, then again for the devices the first drivers
# brought (a virtio NIC or SCSI controller sits on the virtio bus its PCI driver creates;
# USB devices behind a host controller), then the ones that stack on them (disks over SCSI).
for pass in 1 2 3; do
    for alias in /sys/bus/*/devices/*/modalias; do modprobe -q "$(cat "$alias")" 2>/dev/null; done
    # (an MMC card's bus has no modalias file: its block driver is loaded by name)
    [ "$pass" = 1 ] && for m in sd_mod nvme ahci usb_storage mmc_block; do modprobe -q "$m" 2>/dev/null; done
    sleep 1
done
mac=$(sed -n 's/.*garage_pxe\.mac=\([^ ]*\).*/\1/p' /proc/cmdline)
nic=
for path in /sys/class/net/*; do
    [ "$(cat "$path/address" 2>/dev/null)" = "$mac" ] && nic=${path##*/}
done
ip link set lo up
if [ -n "$nic" ]; then
    ip link set "$nic" up
    udhcpc -i "$nic" -n -q -t 10 -T 3 -s /usr/share/udhcpc/default.script
else
    echo "garage-pxe: aucune carte réseau avec l'adresse $mac"
fi
garage-pxe-agent
echo "garage-pxe: terminé (code $?). Le poste peut être éteint."
exec sh
