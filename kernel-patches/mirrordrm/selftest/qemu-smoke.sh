#!/bin/bash
# Boot a cached Debian kernel (/var/cache/mirrorlab/kernels/<series>) under
# QEMU TCG with a busybox initramfs that loads drm + mirrordrm and runs the
# KTAP selftest, then prints the kernel's warnings.  Without Node.js, in ~10 s.
#   usage: qemu-smoke.sh 6.1|6.12
set -e
HERE=$(cd "$(dirname "$0")" && pwd); MOD=$(dirname "$HERE")
make -s -C "$HERE" mirrordrm_test
S=$1; C=/var/cache/mirrorlab/kernels/$S; R=$(cat $C/release)
W=${WORK:-/tmp/mirrordrm-smoke}/$S; rm -rf $W; mkdir -p $W/root/{bin,dev,proc,sys,tmp,mod}
cp /usr/bin/busybox $W/root/bin/; for a in sh mount insmod rmmod lsmod kill dmesg poweroff cat grep mkdir sleep echo; do ln -s busybox $W/root/bin/$a; done
D=$(find $C/modules/lib/modules/$R -name 'drm.ko*' | head -1)
case $D in *.xz) xz -dc $D > $W/root/mod/drm.ko;; *) cp $D $W/root/mod/drm.ko;; esac
make -s -C "$(cat $C/kdir)" M=$MOD modules
cp $MOD/mirrordrm.ko $W/root/mod/
cp $HERE/mirrordrm_test $W/root/bin/mirrordrm_test
cat > $W/root/init <<'EOI'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
insmod /mod/drm.ko && insmod /mod/mirrordrm.ko && echo MODULES-LOADED
sleep 1
/bin/mirrordrm_test; echo "TEST-RC $?"
# module unload while a file is open must be refused, then work once closed
sleep 30 < /dev/dri/renderD128 & H=$!
sleep 1
if rmmod mirrordrm 2>/dev/null; then echo "not ok - rmmod with an open file succeeded"; else echo "ok - rmmod refused while the render node is open"; fi
kill $H; wait $H 2>/dev/null
if rmmod mirrordrm; then echo "ok - rmmod after close"; else echo "not ok - rmmod after close"; fi
echo "=== dmesg (warnings)"; dmesg | grep -iE "warn|bug|oops|call trace|mirrordrm|lockdep|taint|drm" | sed "s/^/K: /" | head -40
poweroff -f
EOI
chmod +x $W/root/init
(cd $W/root && find . | cpio -o -H newc 2>/dev/null | gzip -1 > $W/initrd.gz)
timeout 300 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 -nographic -no-reboot \
  -kernel $C/vmlinuz -initrd $W/initrd.gz -append "console=ttyS0 quiet panic=-1 loglevel=4 hugepagesz=1G hugepages=1" 2>&1 | tr -d '\r' | grep -v "^\[" 
