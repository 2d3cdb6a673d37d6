#!/usr/bin/env bash
# Boot a Debian guest kernel from the shared cache under QEMU (TCG) with a
# busybox initramfs, load fakevram once per spec and run fakevram-test.
# Standalone: does not need the TypeScript guest runner.
#
#   kernel-patches/fakevram/tools/run-guest.sh <series> [test args...]
#   FV_SPECS='kind=iomem,base=1G,size=1G;kind=pages,size=512M'  (default)
#   FV_MEM=4G FV_MEMMAP='1G$1G'
#
# Output: the serial console (KTAP from fakevram-test, then the kernel log
# lines that matter) on stdout.
set -euo pipefail
cd "$(dirname "$0")/../../.."
series=${1:?series (6.1 or 6.12)}; shift
cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/kernels/$series
[ -f "$cache/.complete" ] || { echo "no kernel cache at $cache" >&2; exit 1; }
specs=${FV_SPECS:-kind=iomem,base=1G,size=1G;kind=pages,size=512M}
mem=${FV_MEM:-4G}
memmap=${FV_MEMMAP:-1G\$1G}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

[ -f build/modules/$series/fakevram.ko ] || scripts/build-modules.sh "$series"
gcc -static -O2 -Wall -Wextra -Wno-sign-compare -Ikernel-patches/include \
	-o "$work/fakevram-test" kernel-patches/fakevram/tools/fakevram-test.c -lm

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp /bin/busybox "$root/bin/"
for a in sh mount insmod rmmod dmesg grep poweroff cat echo sed tr; do ln -sf busybox "$root/bin/$a"; done
cp "$work/fakevram-test" "$root/bin/"
cp build/modules/$series/fakevram.ko "$root/"
brd=$(find "$cache/modules" -name 'brd.ko*' | head -1)
case $brd in *.xz) xz -dc "$brd" >"$root/brd.ko" ;; *) cp "$brd" "$root/brd.ko" ;; esac
printf '%s\n' "$specs" | tr ';' '\n' >"$root/specs"
printf '%s\n' "$*" >"$root/testargs"
cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
insmod /brd.ko rd_nr=1 rd_size=65536
echo "# thp: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
while read spec; do
	args=$(echo "$spec" | tr ',' ' ')
	echo "=== fakevram $args"
	insmod /fakevram.ko $args || { echo "# insmod failed"; continue; }
	/bin/fakevram-test -b /dev/ram0 $(cat /testargs)
	echo "# exit $?"
	rmmod fakevram
done </specs
echo "=== kernel log"
dmesg | grep -iE 'warn|bug|oops|fakevram|call trace|rip:|bad p[mu]d|error'
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"
timeout "${FV_TIMEOUT:-900}" qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp 1 \
	-nographic -no-reboot -kernel "$cache/vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 memmap=$memmap" </dev/null
