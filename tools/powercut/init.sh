#!/bin/busybox sh
# /init of the power-cut guest: mount what Linux needs, load the drivers for
# the virtio disk and ext4, mount the data disk on /data and run the guest
# program; then power off (the harness usually pulls the plug first).
/bin/busybox mkdir -p /proc /sys /dev /data /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do
	insmod "/lib/modules/$m" || echo "POWERCUT ERROR could not load $m"
done
ip link set lo up

if grep -q 'powercut.phase=probe' /proc/cmdline; then
	/bin/guest
	poweroff -f
fi

# virtio_blk probes the disk in the background
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
if mount -t ext4 /dev/vda /data; then
	/bin/guest
	umount /data || sync
else
	echo "POWERCUT ERROR the data disk /dev/vda did not mount"
	echo "POWERCUT DONE"
fi
poweroff -f
